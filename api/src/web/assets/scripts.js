// Callsight web pages: compliance scripts. List; read and edit one (JSON, as stored) with the
// API's validation error shown at the offending line; save a new version; re-score the stored
// calls of the script and follow the progress.
'use strict';

(function () {
  CS.pages.scripts = async function (main) {
    main.appendChild(CS.el('h1', {}, 'Compliance scripts'));
    if (CS.can('edit-scripts')) main.appendChild(CS.el('p', {}, CS.link('/app/scripts/new', 'New script', { class: 'button', id: 'new-script' })));
    const list = await CS.get('/v1/scripts');
    main.appendChild(CS.table('scripts-table', 'Scripts (latest versions)', [
      { title: 'Script', value: (s) => CS.link('/app/scripts/' + encodeURIComponent(s.script_id), s.script_id), csv: (s) => s.script_id },
      { title: 'Name', value: (s) => s.name || '–', csv: (s) => s.name },
      { title: 'Version', numeric: true, value: (s) => String(s.version), csv: (s) => s.version },
      { title: 'Rules', numeric: true, value: (s) => String(s.n_rules), csv: (s) => s.n_rules },
      { title: 'Saved (UTC)', value: (s) => CS.fmtDate(s.created_at), csv: (s) => s.created_at },
      { title: 'Calls', value: (s) => CS.link('/app/queue' + CS.query({ script: s.script_id, sort: 'severity' }) + '&flagged=', 'calls'), csv: () => '' },
    ], list.scripts, 'scripts.csv'));
  };

  const TEMPLATE = {
    id: 'my-script',
    name: 'My script',
    rules: [
      { id: 'greeting', kind: 'required', speaker: 'agent', severity: 'medium', phrases: ['thank you for calling'] },
    ],
  };

  CS.pages.scriptEditor = async function (main, [scriptId]) {
    const isNew = scriptId === null;
    main.appendChild(CS.el('p', { class: 'crumbs' }, CS.link('/app/scripts', '← Scripts')));
    let script = null;
    if (!isNew) script = await CS.get('/v1/scripts/' + encodeURIComponent(scriptId));
    main.appendChild(CS.el('h1', {}, isNew ? 'New script' : `Script ${script.script_id} · version ${script.version}`));
    const editable = CS.can('edit-scripts');
    const text = JSON.stringify(isNew ? TEMPLATE : script.body, null, 2);

    const gutter = CS.el('pre', { class: 'gutter', 'aria-hidden': 'true', id: 'script-gutter' });
    const editor = CS.el('textarea', {
      id: 'script-editor', class: 'code', spellcheck: 'false', rows: 24, readonly: !editable,
      'aria-label': 'Script (JSON)', 'aria-describedby': 'script-errors',
    });
    editor.value = text;
    const errors = CS.el('div', { id: 'script-errors', 'aria-live': 'assertive' });
    let errorLine = null;
    const renderGutter = () => {
      const n = editor.value.split('\n').length;
      CS.clear(gutter);
      for (let i = 1; i <= n; i += 1) {
        gutter.appendChild(CS.el('span', { class: i === errorLine ? 'error-line' : null, dataset: { line: i } }, String(i)));
        gutter.appendChild(document.createTextNode('\n'));
      }
      gutter.scrollTop = editor.scrollTop;
    };
    editor.addEventListener('input', () => { errorLine = null; CS.clear(errors); renderGutter(); });
    editor.addEventListener('scroll', () => { gutter.scrollTop = editor.scrollTop; });
    renderGutter();
    main.appendChild(CS.el('div', { class: 'editor' }, gutter, editor));
    main.appendChild(errors);

    const showError = (error) => {
      CS.clear(errors);
      errorLine = error.line || null;
      renderGutter();
      if (errorLine) {
        // Put the caret on the offending line and say what is wrong there.
        const lines = editor.value.split('\n');
        const offset = lines.slice(0, errorLine - 1).reduce((acc, l) => acc + l.length + 1, 0);
        editor.focus();
        editor.setSelectionRange(offset, offset + (lines[errorLine - 1] || '').length);
        const lineHeight = editor.scrollHeight / Math.max(1, lines.length);
        editor.scrollTop = Math.max(0, (errorLine - 4) * lineHeight);
        errors.appendChild(CS.el('p', { class: 'msg error', role: 'alert', id: 'script-error', dataset: { line: errorLine } },
          CS.el('strong', {}, `Line ${errorLine}: `), error.message.replace(/^script line \d+: /, ''),
          CS.el('code', { class: 'error-source' }, (lines[errorLine - 1] || '').trim())));
      } else {
        errors.appendChild(CS.message(error.message));
      }
    };

    if (!editable) {
      main.appendChild(CS.el('p', { class: 'muted' }, 'Read only: your role may not change scripts.'));
      return;
    }
    const status = CS.el('div', { id: 'script-status', 'aria-live': 'polite' });
    const save = CS.el('button', { type: 'button', id: 'script-save' }, isNew ? 'Create script' : 'Save new version');
    const rescore = CS.el('button', { type: 'button', class: 'secondary', id: 'script-rescore', disabled: isNew }, 'Re-score stored calls');
    const progress = CS.el('progress', { id: 'rescore-progress', max: 1, value: 0, hidden: true });
    main.append(CS.el('div', { class: 'actions' }, save, rescore), progress, status);

    save.addEventListener('click', async () => {
      CS.clear(status);
      // Local JSON syntax check first, with the line, so a typo needs no round trip.
      try {
        JSON.parse(editor.value);
      } catch (syntax) {
        const position = /position (\d+)/.exec(syntax.message);
        const line = position ? editor.value.slice(0, Number(position[1])).split('\n').length : null;
        const lineMatch = /line (\d+)/.exec(syntax.message);
        showError({ line: line || (lineMatch ? Number(lineMatch[1]) : null), message: 'not valid JSON: ' + syntax.message });
        return;
      }
      try {
        const saved = isNew
          ? await CS.api('POST', '/v1/scripts', editor.value)
          : await CS.api('PUT', '/v1/scripts/' + encodeURIComponent(scriptId), editor.value);
        errorLine = null;
        CS.clear(errors);
        renderGutter();
        if (isNew) {
          CS.navigate('/app/scripts/' + encodeURIComponent(saved.script_id), true);
          return;
        }
        main.querySelector('h1').textContent = `Script ${saved.script_id} · version ${saved.version}`;
        status.appendChild(CS.message(`Saved version ${saved.version}. Calls keep the version they were scored with until re-scored.`, 'info'));
      } catch (error) {
        showError(error);
      }
    });

    rescore.addEventListener('click', async () => {
      CS.clear(status);
      const startedSecs = Math.floor(Date.now() / 1000) - 1;
      let accepted;
      try {
        accepted = await CS.api('POST', '/v1/scripts/' + encodeURIComponent(scriptId) + '/rescore');
      } catch (error) {
        status.appendChild(CS.message(error.message));
        return;
      }
      const total = accepted.jobs_enqueued;
      const line = CS.el('p', { id: 'rescore-status', role: 'status' }, `Re-scoring ${total} calls against version ${accepted.version}…`);
      status.appendChild(line);
      if (total === 0) {
        line.textContent = 'No analysed calls use this script: nothing to re-score.';
        return;
      }
      progress.hidden = false;
      progress.max = total;
      progress.value = 0;
      // Progress: calls of this script analysed again since the request.
      const poll = async () => {
        let done = 0;
        let cursor = '';
        do {
          const page = await CS.get('/v1/calls' + CS.query({ script: scriptId, status: 'analyzed', limit: 200, cursor, sort: 'date' }));
          done += page.calls.filter((c) => c.analyzed_at && Date.parse(c.analyzed_at) / 1000 >= startedSecs).length;
          cursor = page.next_cursor || '';
        } while (cursor);
        progress.value = Math.min(done, total);
        line.textContent = `Re-scored ${Math.min(done, total)} of ${total} calls.`;
        return done >= total;
      };
      const timer = setInterval(async () => {
        try {
          if (await poll()) clearInterval(timer);
        } catch (error) {
          clearInterval(timer);
          status.appendChild(CS.message(error.message));
        }
      }, 1000);
      CS.cleanups.push(() => clearInterval(timer));
    });
  };
})();
