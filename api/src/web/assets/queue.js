// Callsight web pages: the flagged-call queue. Every filter lives in the URL (shareable links);
// the list is GET /v1/calls with the same parameter names.
'use strict';

(function () {
  const FILTERS = ['flagged', 'rule_failed', 'agent', 'team', 'script', 'from', 'to', 'sentiment', 'status', 'sort', 'limit', 'cursor'];
  const PAGE_SIZE = 25;

  CS.pages.queue = async function (main, _match, params) {
    const state = {};
    for (const name of FILTERS) state[name] = params.get(name) || '';
    // A reviewer's default: flagged calls, worst first (an empty string in the URL means "any").
    if (!params.has('flagged') && CS.can('review')) state.flagged = 'true';
    if (!params.has('sort')) state.sort = 'severity';
    const heading = CS.can('review') ? 'Review queue' : 'Calls';
    main.appendChild(CS.el('h1', {}, heading));

    let scripts = [];
    try {
      scripts = (await CS.get('/v1/scripts')).scripts;
    } catch (_) { /* the filter falls back to free text */ }
    const ruleIds = [...new Set(scripts.flatMap((s) => ((s.body && s.body.rules) || []).map((r) => r.id)))].sort();

    const field = (label, control) => CS.el('label', { class: 'field' }, CS.el('span', {}, label), control);
    const select = (name, options) => CS.el('select', { name, id: 'f-' + name },
      options.map(([value, text]) => CS.el('option', { value, selected: state[name] === value }, text)));
    const input = (name, type, placeholder) => CS.el('input', { name, id: 'f-' + name, type, value: state[name], placeholder });

    const form = CS.el('form', { class: 'filters', id: 'queue-filters', role: 'search' },
      field('Flag', select('flagged', [['', 'Any'], ['true', 'Flagged'], ['false', 'Not flagged']])),
      field('Failed rule', ruleIds.length
        ? select('rule_failed', [['', 'Any']].concat(ruleIds.map((id) => [id, id])))
        : input('rule_failed', 'text', 'rule id')),
      field('Agent', input('agent', 'text', 'agent id')),
      field('Team', input('team', 'text', 'team')),
      field('Script', select('script', [['', 'Any']].concat(scripts.map((s) => [s.script_id, s.name || s.script_id])))),
      field('From', input('from', 'date')),
      field('To', input('to', 'date')),
      field('Customer sentiment', select('sentiment', [['', 'Any'], ['negative', 'Negative'], ['neutral', 'Neutral'], ['positive', 'Positive']])),
      field('Sort', select('sort', [['severity', 'Severity'], ['date', 'Newest first'], ['date_asc', 'Oldest first']])),
      CS.el('div', { class: 'actions' },
        CS.el('button', { type: 'submit', id: 'apply-filters' }, 'Apply'),
        CS.link('/app/queue?flagged=&sort=date', 'Clear', { class: 'button secondary' })));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const next = {};
      for (const element of form.elements) {
        if (element.name) next[element.name] = element.value;
      }
      // Always write `flagged` so "Any" survives the reviewer default.
      const query = CS.query(next);
      CS.navigate('/app/queue' + (query ? query + (next.flagged === '' ? '&flagged=' : '') : '?flagged='));
    });
    main.appendChild(form);

    const apiParams = {};
    for (const name of FILTERS) if (state[name] !== '') apiParams[name] = state[name];
    apiParams.limit = state.limit || PAGE_SIZE;
    const results = CS.el('section', { id: 'queue-results', 'aria-live': 'polite' });
    main.appendChild(results);
    let list;
    try {
      list = await CS.get('/v1/calls' + CS.query(apiParams));
    } catch (error) {
      results.appendChild(CS.message(error.message));
      return;
    }
    const offset = Number(state.cursor || 0);
    const shown = list.calls.length;
    results.appendChild(CS.el('p', { class: 'muted', id: 'queue-count', dataset: { total: list.total } },
      list.total === 0 ? 'No calls match.' : `Calls ${offset + 1}–${offset + shown} of ${list.total}`));
    if (shown > 0) {
      const rows = list.calls.map((call) => {
        const summary = call.summary || {};
        const sentiment = summary.customer_sentiment;
        return CS.el('tr', { class: summary.flagged ? 'flagged' : null, dataset: { callId: call.call_id } },
          CS.el('td', {}, CS.link('/app/calls/' + encodeURIComponent(call.call_id), call.external_call_id || CS.shortId(call.call_id),
            { class: 'call-link', 'aria-label': 'Open call ' + (call.external_call_id || call.call_id) })),
          CS.el('td', {}, CS.fmtDate(call.created_at)),
          CS.el('td', {}, call.agent_id || '–'),
          CS.el('td', {}, call.team || '–'),
          CS.el('td', {}, call.script_id || '–'),
          CS.el('td', {}, summary.flagged ? CS.el('span', { class: 'badge fail' }, 'flagged') : (summary.flagged === false ? 'no' : call.status)),
          CS.el('td', { class: 'num' }, summary.failed_rules === undefined || summary.failed_rules === null ? '–' : summary.failed_rules),
          CS.el('td', { class: 'num' }, CS.fmtPct(summary.compliance_score)),
          CS.el('td', {}, sentiment ? CS.el('span', { class: 'badge s-' + sentiment.label }, sentiment.label) : '–'),
          CS.el('td', { class: 'num' }, CS.fmtSecs(summary.duration_secs)));
      });
      results.appendChild(CS.el('div', { class: 'table-wrap' }, CS.el('table', { class: 'data', id: 'queue-table' },
        CS.el('caption', { class: 'sr-only' }, heading),
        CS.el('thead', {}, CS.el('tr', {}, ['Call', 'Uploaded (UTC)', 'Agent', 'Team', 'Script', 'Flag', 'Failed rules', 'Compliance', 'Customer', 'Duration']
          .map((t, i) => CS.el('th', { scope: 'col', class: i >= 6 && i !== 8 ? 'num' : null }, t)))),
        CS.el('tbody', {}, rows))));
    }
    const pageLink = (cursor, text, id) => {
      const next = Object.assign({}, state, { cursor: cursor || '' });
      const query = CS.query(next);
      return CS.link('/app/queue' + query + (next.flagged === '' ? (query ? '&' : '?') + 'flagged=' : ''), text, { class: 'button secondary', id });
    };
    const pager = CS.el('nav', { class: 'pager', 'aria-label': 'Pages' });
    if (offset > 0) pager.appendChild(pageLink(String(Math.max(0, offset - Number(apiParams.limit))), '← Previous', 'page-prev'));
    if (list.next_cursor) pager.appendChild(pageLink(list.next_cursor, 'Next →', 'page-next'));
    results.appendChild(pager);
  };
})();
