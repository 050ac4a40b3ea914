// Callsight web pages: the manager's dashboard. Figures come from /v1/aggregates/* (the same
// numbers the API gives); every number links to the queue filtered to the calls behind it.
'use strict';

(function () {
  const SENTIMENTS = ['negative', 'neutral', 'positive', 'none'];

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
    main.appendChild(CS.el('h1', {}, 'Compliance dashboard'));
    const form = CS.el('form', { class: 'filters', id: 'dashboard-range' },
      CS.el('label', { class: 'field' }, CS.el('span', {}, 'From'), CS.el('input', { type: 'date', name: 'from', id: 'd-from', value: range.from })),
      CS.el('label', { class: 'field' }, CS.el('span', {}, 'To'), CS.el('input', { type: 'date', name: 'to', id: 'd-to', value: range.to })),
      CS.el('div', { class: 'actions' }, CS.el('button', { type: 'submit' }, 'Apply'), CS.link('/app/dashboard', 'All time', { class: 'button secondary' })));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      CS.navigate('/app/dashboard' + CS.query({ from: form.elements.from.value, to: form.elements.to.value }));
    });
    main.appendChild(form);

    const q = (extra) => CS.query(Object.assign({}, range, extra));
    const started = performance.now();
    const [byDay, byTeam, byAgent, byScript, sentiment, handlingDay, handlingTeam, handlingAgent, handlingScript] = await Promise.all([
      CS.get('/v1/aggregates/compliance' + q({ group_by: 'day' })),
      CS.get('/v1/aggregates/compliance' + q({ group_by: 'team' })),
      CS.get('/v1/aggregates/compliance' + q({ group_by: 'agent' })),
      CS.get('/v1/aggregates/compliance' + q({ group_by: 'script' })),
      CS.get('/v1/aggregates/sentiment' + q({})),
      CS.get('/v1/aggregates/handling' + q({ group_by: 'day' })),
      CS.get('/v1/aggregates/handling' + q({ group_by: 'team' })),
      CS.get('/v1/aggregates/handling' + q({ group_by: 'agent' })),
      CS.get('/v1/aggregates/handling' + q({ group_by: 'script' })),
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
      kpi('kpi-calls', 'Analysed calls', String(calls), calls, { status: 'analyzed', from: range.from, to: range.to }),
      kpi('kpi-flagged', 'Flagged calls', String(flagged), flagged, { flagged: 'true', from: range.from, to: range.to }),
      kpi('kpi-compliance', 'Compliance rate', CS.fmtPct(rate), rate, null),
      kpi('kpi-aht', 'Average handle time', CS.fmtSecs(aht), aht, null),
      kpi('kpi-silence', 'Average silence', aht === null ? '–' : CS.fmtNum(silence) + ' s', silence, null)));

    // --- compliance over time ---
    main.appendChild(CS.el('section', { 'aria-label': 'Compliance over time' }, CS.el('h2', {}, 'Compliance rate over time'),
      lineChart(days, range)));

    // --- by team, agent, script ---
    const grid = CS.el('div', { class: 'dash-grid' });
    main.appendChild(grid);
    const handlingByKey = (aggregate) => new Map(aggregate.buckets.map((b) => [b.key, b]));
    const groupTable = (id, title, filterName, aggregate, handling) => {
      const handlingMap = handlingByKey(handling);
      const rows = aggregate.buckets.map((b) => Object.assign({}, b, {
        handling: handlingMap.get(b.key) || {}, __data: { key: b.key === null ? '' : b.key, calls: b.calls },
      })).sort((a, b) => (a.compliance_rate === null) - (b.compliance_rate === null) || (a.compliance_rate || 0) - (b.compliance_rate || 0));
      const filter = (b, extra) => Object.assign({ [filterName]: b.key || '', from: range.from, to: range.to }, extra);
      return CS.el('section', { 'aria-label': title }, CS.el('h2', {}, title), CS.table(id, title + ' (lowest compliance first)', [
        { title: filterName, value: (b) => (b.key === null ? '(none)' : queueLink(filter(b, {}), b.key)), csv: (b) => b.key },
        { title: 'Calls', numeric: true, value: (b) => queueLink(filter(b, { status: 'analyzed' }), String(b.calls)), csv: (b) => b.calls },
        { title: 'Flagged', numeric: true, value: (b) => queueLink(filter(b, { flagged: 'true' }), String(b.flagged_calls)), csv: (b) => b.flagged_calls },
        { title: 'Compliance', numeric: true, value: (b) => bar(b.compliance_rate), csv: (b) => b.compliance_rate },
        { title: 'Failed checks', numeric: true, value: (b) => `${b.rule_failures}/${b.rule_checks}`, csv: (b) => b.rule_failures },
        { title: 'Avg handle', numeric: true, value: (b) => CS.fmtSecs(b.handling.mean_duration_secs), csv: (b) => b.handling.mean_duration_secs },
        { title: 'Avg silence (s)', numeric: true, value: (b) => CS.fmtNum(b.handling.mean_silence_secs), csv: (b) => b.handling.mean_silence_secs },
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
      { title: 'Rule', value: (r) => queueLink({ rule_failed: r.rule_id, from: range.from, to: range.to }, r.rule_id), csv: (r) => r.rule_id },
      { title: 'Failures', numeric: true, value: (r) => queueLink({ rule_failed: r.rule_id, from: range.from, to: range.to }, String(r.failures)), csv: (r) => r.failures },
      { title: 'Checks', numeric: true, value: (r) => String(r.checks), csv: (r) => r.checks },
      { title: 'Failure rate', numeric: true, value: (r) => CS.fmtPct(r.failures / r.checks), csv: (r) => r.failures / r.checks },
      { title: 'Scripts', value: (r) => [...r.scripts].join(', '), csv: (r) => [...r.scripts].join(' ') },
    ], topRules, 'top-failing-rules.csv')));

    // --- sentiment distribution over time ---
    main.appendChild(CS.el('section', { 'aria-label': 'Customer sentiment over time' }, CS.el('h2', {}, 'Customer sentiment over time'),
      sentimentChart(sentiment.days, range),
      CS.table('sentiment-table', 'Analysed calls per day by customer sentiment', [
        { title: 'Day', value: (d) => d.day, csv: (d) => d.day },
        { title: 'Calls', numeric: true, value: (d) => queueLink({ from: d.day, to: d.day, status: 'analyzed' }, String(d.calls)), csv: (d) => d.calls },
      ].concat(SENTIMENTS.map((label) => ({
        title: label, numeric: true,
        value: (d) => (label === 'none' ? String(d.by_label[label] || 0) : queueLink({ from: d.day, to: d.day, sentiment: label }, String(d.by_label[label] || 0))),
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

  function lineChart(days, range) {
    const points = days.filter((d) => d.compliance_rate !== null && d.key);
    if (points.length === 0) return CS.el('p', { class: 'muted' }, 'No rule checks in this range.');
    const width = 900;
    const height = 200;
    const left = 44;
    const x = (i) => left + (points.length === 1 ? (width - left - 20) / 2 : (i / (points.length - 1)) * (width - left - 20));
    const y = (r) => 10 + (1 - r) * (height - 40);
    const svg = CS.svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', id: 'compliance-chart', role: 'img',
      'aria-label': 'Compliance rate per day' });
    for (const level of [0, 0.5, 0.9, 1]) {
      svg.append(CS.svg('path', { d: `M${left} ${y(level)}H${width - 10}`, class: 'axis' }),
        CS.svg('text', { x: 2, y: y(level) + 4, class: 'tick' }, (level * 100) + '%'));
    }
    svg.appendChild(CS.svg('path', { d: points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)} ${y(p.compliance_rate).toFixed(1)}`).join(''), class: 'line' }));
    const step = Math.max(1, Math.ceil(points.length / 10));
    points.forEach((p, i) => {
      const link = CS.svg('a', { href: '/app/queue' + CS.query({ from: p.key, to: p.key, flagged: 'true', sort: 'severity' }), 'data-nav': '' },
        CS.svg('circle', { cx: x(i), cy: y(p.compliance_rate), r: 4, class: 'dot' },
          CS.svg('title', {}, `${p.key}: ${CS.fmtPct(p.compliance_rate)} of ${p.rule_checks} checks, ${p.calls} calls`)));
      svg.appendChild(link);
      if (i % step === 0) svg.appendChild(CS.svg('text', { x: x(i) - 30, y: height - 8, class: 'tick' }, p.key));
    });
    return svg;
  }

  function sentimentChart(days, range) {
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
        else svg.appendChild(CS.svg('a', { href: '/app/queue' + CS.query({ from: d.day, to: d.day, sentiment: label, sort: 'severity' }) + '&flagged=', 'data-nav': '' }, rect));
      }
      if (i % step === 0) svg.appendChild(CS.svg('text', { x: left + i * slot, y: height - 8, class: 'tick' }, d.day));
    });
    const legend = CS.el('p', { class: 'legend small' }, SENTIMENTS.map((label) => [CS.el('span', { class: 'swatch s-' + label }), ' ', label, '  ']));
    return CS.el('div', {}, svg, legend);
  }
})();
