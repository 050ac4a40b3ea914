// Callsight web pages: the manager's dashboard. Figures come from /v1/aggregates/* (the same
// numbers the API gives); every number links to the queue filtered to the calls behind it.
'use strict';

(function () {
  const SENTIMENTS = ['negative', 'neutral', 'positive', 'none'];
  const SCOPES = ['team', 'agent', 'script'];

  function queueLink(filters, text, attrs) {
    // Drill-downs show every matching call, flagged or not, unless the figure is about flags.
    const params = Object.assign({ flagged: '', sort: 'severity' }, filters);
    const query = CS.query(params);
    const href = '/app/queue' + query + (params.flagged === '' ? (query ? '&' : '?') + 'flagged=' : '');
    return CS.link(href, text, attrs);
  }

  function sum(items, f) {
    return items.reduce((acc, item) => acc + (f(item) || 0), 0);
  }

  CS.pages.dashboard = async function (main, _match, params) {
    const range = { from: params.get('from') || '', to: params.get('to') || '' };
    // A dashboard can be scoped to one team, agent or script (its trend over time): every figure
    // and every drill-down then covers that group's calls only.
    const scope = {};
    for (const name of SCOPES) if (params.get(name)) scope[name] = params.get(name);
    const scoped = Object.keys(scope).length > 0;
    const scopeText = Object.entries(scope).map(([name, value]) => `${name} ${value}`).join(', ');
    main.appendChild(CS.el('h1', {}, scoped ? `Compliance dashboard: ${scopeText}` : 'Compliance dashboard'));
    const form = CS.el('form', { class: 'filters', id: 'dashboard-range' },
      CS.el('label', { class: 'field' }, CS.el('span', {}, 'From'), CS.el('input', { type: 'date', name: 'from', id: 'd-from', value: range.from })),
      CS.el('label', { class: 'field' }, CS.el('span', {}, 'To'), CS.el('input', { type: 'date', name: 'to', id: 'd-to', value: range.to })),
      CS.el('div', { class: 'actions' }, CS.el('button', { type: 'submit' }, 'Apply'),
        CS.link('/app/dashboard' + CS.query(scope), 'All time', { class: 'button secondary' }),
        scoped ? CS.link('/app/dashboard' + CS.query(range), 'All calls', { class: 'button secondary', id: 'clear-scope' }) : ''));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      CS.navigate('/app/dashboard' + CS.query(Object.assign({ from: form.elements.from.value, to: form.elements.to.value }, scope)));
    });
    main.appendChild(form);

    const q = (extra) => CS.query(Object.assign({}, range, scope, extra));
    // Drill-down filters: the figure's own plus the dashboard's date range and scope.
    const within = (filters) => Object.assign({ from: range.from, to: range.to }, scope, filters);
    const started = performance.now();
    // Per-rule counts are needed once (by script, for the failing rules); the other groupings
    // ask for rates only, which the store answers from the calls' summary columns.
    const [byDay, byTeam, byAgent, byScript, sentiment, handlingDay, handlingTeam, handlingAgent, handlingScript, overallByDay] = await Promise.all([
      CS.get('/v1/aggregates/compliance' + q({ group_by: 'day', rules: 'false' })),
      CS.get('/v1/aggregates/compliance' + q({ group_by: 'team', rules: 'false' })),
      CS.get('/v1/aggregates/compliance' + q({ group_by: 'agent', rules: 'false' })),
      CS.get('/v1/aggregates/compliance' + q({ group_by: 'script' })),
      CS.get('/v1/aggregates/sentiment' + q({})),
      CS.get('/v1/aggregates/handling' + q({ group_by: 'day' })),
      CS.get('/v1/aggregates/handling' + q({ group_by: 'team' })),
      CS.get('/v1/aggregates/handling' + q({ group_by: 'agent' })),
      CS.get('/v1/aggregates/handling' + q({ group_by: 'script' })),
      scoped ? CS.get('/v1/aggregates/compliance' + CS.query(Object.assign({}, range, { group_by: 'day', rules: 'false' }))) : null,
    ]);

    // --- headline figures ---
    const days = byDay.buckets;
    const calls = sum(days, (b) => b.calls);
    const flagged = sum(days, (b) => b.flagged_calls);
    const checks = sum(days, (b) => b.rule_checks);
    const failures = sum(days, (b) => b.rule_failures);
    const rate = checks > 0 ? (checks - failures) / checks : null;
    const meanOf = (buckets, field) => {
      const n = sum(buckets.filter((b) => b[field] !== null), (b) => b.calls);
      return n > 0 ? sum(buckets.filter((b) => b[field] !== null), (b) => b[field] * b.calls) / n : null;
    };
    const aht = meanOf(handlingDay.buckets, 'mean_duration_secs');
    const silence = meanOf(handlingDay.buckets, 'mean_silence_secs');
    const kpi = (id, label, value, raw, link) => CS.el('div', { class: 'kpi', id, dataset: { value: raw === null ? '' : raw } },
      CS.el('span', { class: 'kpi-label' }, label), link ? queueLink(link, value, { class: 'kpi-value' }) : CS.el('span', { class: 'kpi-value' }, value));
    main.appendChild(CS.el('section', { class: 'kpis', 'aria-label': 'Headline figures' },
      kpi('kpi-calls', 'Analysed calls', String(calls), calls, within({ status: 'analyzed' })),
      kpi('kpi-flagged', 'Flagged calls', String(flagged), flagged, within({ flagged: 'true' })),
      kpi('kpi-compliance', 'Compliance rate', CS.fmtPct(rate), rate, null),
      kpi('kpi-aht', 'Average handle time', CS.fmtSecs(aht), aht, null),
      kpi('kpi-silence', 'Average silence', aht === null ? '–' : CS.fmtNum(silence) + ' s', silence, null)));

    // --- compliance over time ---
    main.appendChild(CS.el('section', { 'aria-label': 'Compliance over time' },
      CS.el('h2', {}, scoped ? `Compliance rate over time: ${scopeText}` : 'Compliance rate over time'),
      lineChart(days, overallByDay ? overallByDay.buckets : null, within)));

    // --- by team, agent, script ---
    const grid = CS.el('div', { class: 'dash-grid' });
    main.appendChild(grid);
    const handlingByKey = (aggregate) => new Map(aggregate.buckets.map((b) => [b.key, b]));
    const groupTable = (id, title, filterName, aggregate, handling) => {
      const handlingMap = handlingByKey(handling);
      const rows = aggregate.buckets.map((b) => Object.assign({}, b, {
        handling: handlingMap.get(b.key) || {}, __data: { key: b.key === null ? '' : b.key, calls: b.calls },
      })).sort((a, b) => (a.compliance_rate === null) - (b.compliance_rate === null) || (a.compliance_rate || 0) - (b.compliance_rate || 0));
      const filter = (b, extra) => within(Object.assign({ [filterName]: b.key || '' }, extra));
      const trend = (b) => CS.link('/app/dashboard' + CS.query(Object.assign({}, range, scope, { [filterName]: b.key })), 'over time',
        { class: 'trend', 'aria-label': `${filterName} ${b.key} over time` });
      return CS.el('section', { 'aria-label': title }, CS.el('h2', {}, title), CS.table(id, title + ' (lowest compliance first)', [
        { title: filterName, value: (b) => (b.key === null ? '(none)' : queueLink(filter(b, {}), b.key)), csv: (b) => b.key },
        { title: 'Calls', numeric: true, value: (b) => queueLink(filter(b, { status: 'analyzed' }), String(b.calls)), csv: (b) => b.calls },
        { title: 'Flagged', numeric: true, value: (b) => queueLink(filter(b, { flagged: 'true' }), String(b.flagged_calls)), csv: (b) => b.flagged_calls },
        { title: 'Compliance', numeric: true, value: (b) => bar(b.compliance_rate), csv: (b) => b.compliance_rate },
        { title: 'Failed checks', numeric: true, value: (b) => `${b.rule_failures}/${b.rule_checks}`, csv: (b) => b.rule_failures },
        { title: 'Avg handle', numeric: true, value: (b) => CS.fmtSecs(b.handling.mean_duration_secs), csv: (b) => b.handling.mean_duration_secs },
        { title: 'Avg silence (s)', numeric: true, value: (b) => CS.fmtNum(b.handling.mean_silence_secs), csv: (b) => b.handling.mean_silence_secs },
        { title: 'Trend', value: (b) => (b.key === null || scope[filterName] ? '' : trend(b)), csv: false },
      ], rows, `compliance-by-${filterName}.csv`));
    };
    grid.appendChild(groupTable('by-team', 'By team', 'team', byTeam, handlingTeam));
    grid.appendChild(groupTable('by-agent', 'By agent', 'agent', byAgent, handlingAgent));
    grid.appendChild(groupTable('by-script', 'By script', 'script', byScript, handlingScript));

    // --- rules that fail most ---
    const ruleTotals = new Map();
    for (const bucket of byScript.buckets) {
      for (const rule of bucket.rules) {
        const key = rule.rule_id;
        const entry = ruleTotals.get(key) || { rule_id: key, checks: 0, failures: 0, scripts: new Set() };
        entry.checks += rule.checks;
        entry.failures += rule.failures;
        if (bucket.key) entry.scripts.add(bucket.key);
        ruleTotals.set(key, entry);
      }
    }
    const topRules = [...ruleTotals.values()].filter((r) => r.failures > 0)
      .sort((a, b) => b.failures - a.failures || a.rule_id.localeCompare(b.rule_id)).slice(0, 15)
      .map((r) => Object.assign(r, { __data: { rule: r.rule_id, failures: r.failures } }));
    grid.appendChild(CS.el('section', { 'aria-label': 'Top failing rules' }, CS.el('h2', {}, 'Rules that fail most'), CS.table('top-rules', 'Failures per rule', [
      { title: 'Rule', value: (r) => queueLink(within({ rule_failed: r.rule_id }), r.rule_id), csv: (r) => r.rule_id },
      { title: 'Failures', numeric: true, value: (r) => queueLink(within({ rule_failed: r.rule_id }), String(r.failures)), csv: (r) => r.failures },
      { title: 'Checks', numeric: true, value: (r) => String(r.checks), csv: (r) => r.checks },
      { title: 'Failure rate', numeric: true, value: (r) => CS.fmtPct(r.failures / r.checks), csv: (r) => r.failures / r.checks },
      { title: 'Scripts', value: (r) => [...r.scripts].join(', '), csv: (r) => [...r.scripts].join(' ') },
    ], topRules, 'top-failing-rules.csv')));

    // --- sentiment distribution over time ---
    main.appendChild(CS.el('section', { 'aria-label': 'Customer sentiment over time' }, CS.el('h2', {}, 'Customer sentiment over time'),
      sentimentChart(sentiment.days, scope),
      CS.table('sentiment-table', 'Analysed calls per day by customer sentiment', [
        { title: 'Day', value: (d) => d.day, csv: (d) => d.day },
        { title: 'Calls', numeric: true, value: (d) => queueLink(Object.assign({}, scope, { from: d.day, to: d.day, status: 'analyzed' }), String(d.calls)), csv: (d) => d.calls },
      ].concat(SENTIMENTS.map((label) => ({
        title: label, numeric: true,
        value: (d) => (label === 'none' ? String(d.by_label[label] || 0) : queueLink(Object.assign({}, scope, { from: d.day, to: d.day, sentiment: label }), String(d.by_label[label] || 0))),
        csv: (d) => d.by_label[label] || 0,
      }))), sentiment.days.map((d) => Object.assign({}, d, { __data: { day: d.day, calls: d.calls } })), 'sentiment-by-day.csv')));

    main.appendChild(CS.el('p', { class: 'muted small', id: 'dashboard-timing', dataset: { ms: Math.round(performance.now() - started) } },
      `Aggregates over ${calls} calls loaded and drawn in ${Math.round(performance.now() - started)} ms.`));
  };

  function bar(rate) {
    if (rate === null || rate === undefined) return '–';
    const width = Math.round(rate * 60);
    return CS.el('span', { class: 'bar-cell' }, CS.svg('svg', { width: 62, height: 10, 'aria-hidden': 'true' },
      CS.svg('rect', { x: 0, y: 0, width: 60, height: 10, class: 'bar-bg' }),
      CS.svg('rect', { x: 0, y: 0, width, height: 10, class: rate >= 0.9 ? 'bar-good' : rate >= 0.7 ? 'bar-mid' : 'bar-bad' })), ' ', CS.fmtPct(rate));
  }

  // The compliance rate per day; with `overall` (a scoped dashboard) the rate over all calls is
  // drawn behind it, dashed, for comparison. Days are placed on one axis shared by both lines.
  function lineChart(days, overall, within) {
    const points = days.filter((d) => d.compliance_rate !== null && d.key);
    if (points.length === 0) return CS.el('p', { class: 'muted' }, 'No rule checks in this range.');
    const reference = (overall || []).filter((d) => d.compliance_rate !== null && d.key);
    const axis = [...new Set(points.concat(reference).map((d) => d.key))].sort();
    const position = new Map(axis.map((key, i) => [key, i]));
    const width = 900;
    const height = 200;
    const left = 44;
    const x = (key) => left + (axis.length === 1 ? (width - left - 20) / 2 : (position.get(key) / (axis.length - 1)) * (width - left - 20));
    const y = (r) => 10 + (1 - r) * (height - 40);
    const path = (series) => series.map((p, i) => `${i ? 'L' : 'M'}${x(p.key).toFixed(1)} ${y(p.compliance_rate).toFixed(1)}`).join('');
    const svg = CS.svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', id: 'compliance-chart', role: 'img',
      'aria-label': 'Compliance rate per day' });
    for (const level of [0, 0.5, 0.9, 1]) {
      svg.append(CS.svg('path', { d: `M${left} ${y(level)}H${width - 10}`, class: 'axis' }),
        CS.svg('text', { x: 2, y: y(level) + 4, class: 'tick' }, (level * 100) + '%'));
    }
    if (reference.length > 0) svg.appendChild(CS.svg('path', { d: path(reference), class: 'line reference', id: 'compliance-reference' }));
    svg.appendChild(CS.svg('path', { d: path(points), class: 'line' }));
    const step = Math.max(1, Math.ceil(axis.length / 10));
    points.forEach((p) => {
      const link = CS.svg('a', { href: '/app/queue' + CS.query(within({ from: p.key, to: p.key, flagged: 'true', sort: 'severity' })), 'data-nav': '' },
        CS.svg('circle', { cx: x(p.key), cy: y(p.compliance_rate), r: 4, class: 'dot' },
          CS.svg('title', {}, `${p.key}: ${CS.fmtPct(p.compliance_rate)} of ${p.rule_checks} checks, ${p.calls} calls`)));
      svg.appendChild(link);
    });
    axis.forEach((key, i) => {
      if (i % step === 0) svg.appendChild(CS.svg('text', { x: x(key) - 30, y: height - 8, class: 'tick' }, key));
    });
    if (reference.length === 0) return svg;
    const legend = CS.el('p', { class: 'legend small' }, CS.el('span', { class: 'swatch line-swatch' }), ' this selection  ',
      CS.el('span', { class: 'swatch reference-swatch' }), ' all calls');
    return CS.el('div', {}, svg, legend);
  }

  function sentimentChart(days, scope) {
    if (days.length === 0) return CS.el('p', { class: 'muted' }, 'No analysed calls in this range.');
    const width = 900;
    const height = 180;
    const left = 44;
    const maxCalls = Math.max(...days.map((d) => d.calls));
    const slot = (width - left - 10) / days.length;
    const barWidth = Math.max(2, Math.min(40, slot * 0.7));
    const svg = CS.svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', id: 'sentiment-chart', role: 'img',
      'aria-label': 'Analysed calls per day, stacked by customer sentiment' });
    svg.append(CS.svg('text', { x: 2, y: 14, class: 'tick' }, String(maxCalls)), CS.svg('text', { x: 2, y: height - 24, class: 'tick' }, '0'));
    const scale = (n) => (n / maxCalls) * (height - 40);
    const step = Math.max(1, Math.ceil(days.length / 10));
    days.forEach((d, i) => {
      let top = height - 30;
      for (const label of SENTIMENTS) {
        const n = d.by_label[label] || 0;
        if (!n) continue;
        const h = scale(n);
        top -= h;
        const rect = CS.svg('rect', { x: left + i * slot, y: top, width: barWidth, height: h, class: 'seg s-' + label },
          CS.svg('title', {}, `${d.day}: ${n} ${label}`));
        if (label === 'none') svg.appendChild(rect);
        else svg.appendChild(CS.svg('a', { href: '/app/queue' + CS.query(Object.assign({}, scope, { from: d.day, to: d.day, sentiment: label, sort: 'severity' })) + '&flagged=', 'data-nav': '' }, rect));
      }
      if (i % step === 0) svg.appendChild(CS.svg('text', { x: left + i * slot, y: height - 8, class: 'tick' }, d.day));
    });
    const legend = CS.el('p', { class: 'legend small' }, SENTIMENTS.map((label) => [CS.el('span', { class: 'swatch s-' + label }), ' ', label, '  ']));
    return CS.el('div', {}, svg, legend);
  }
})();
