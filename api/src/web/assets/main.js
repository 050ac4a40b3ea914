// Callsight web pages: start-up. Who is signed in, the navigation for their role, the routes.
'use strict';

(function () {
  CS.route(/^\/app\/?$/, (main) => {
    // Each role lands on its own screen.
    CS.navigate(CS.can('dashboards') && !CS.can('review') ? '/app/dashboard' : '/app/queue', true);
  });
  CS.route(/^\/app\/queue$/, CS.pages.queue);
  CS.route(/^\/app\/calls\/([^/]+)$/, CS.pages.call);
  CS.route(/^\/app\/dashboard$/, CS.pages.dashboard);
  CS.route(/^\/app\/scripts$/, CS.pages.scripts);
  CS.route(/^\/app\/scripts\/new$/, (main) => CS.pages.scriptEditor(main, [null]));
  CS.route(/^\/app\/scripts\/([^/]+)$/, CS.pages.scriptEditor);
  CS.route(/^\/app\/search$/, CS.pages.search);

  async function start() {
    CS.main = document.getElementById('main');
    try {
      CS.me = await CS.get('/web/me');
    } catch (error) {
      CS.clear(CS.main).appendChild(CS.message(error.message));
      return;
    }
    document.getElementById('who').textContent = CS.me.role + ' · ' + CS.me.tenant;
    const nav = document.getElementById('nav');
    const items = [];
    if (CS.can('dashboards')) items.push(['/app/dashboard', 'Dashboard']);
    items.push(['/app/queue', CS.can('review') ? 'Review queue' : 'Calls']);
    items.push(['/app/search', 'Search']);
    items.push(['/app/scripts', 'Scripts']);
    for (const [href, text] of items) nav.appendChild(CS.link(href, text));
    document.getElementById('sign-out').addEventListener('click', async () => {
      try {
        await CS.api('POST', '/web/sign-out');
      } finally {
        window.location.assign('/');
      }
    });
    await CS.render();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
