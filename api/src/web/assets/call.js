// Callsight web pages: one call under review. Audio with a waveform per party and a timeline of
// speech, silence, hold and talk-over; the transcript by turn (every word seeks the audio); the
// rule results with their evidence (seeks too); the customer's sentiment over the call; flags,
// watchlist and verification results; and the reviewer's verdicts, saved through the API.
'use strict';

(function () {
  const MIN_SILENCE_SECS = 2.0;
  const MIN_TALK_OVER_SECS = 0.3;
  const WAVE_COLUMNS = 1000;

  /** Union of sorted spans. */
  function union(spans) {
    const sorted = spans.slice().sort((a, b) => a.start_secs - b.start_secs);
    const out = [];
    for (const span of sorted) {
      const last = out[out.length - 1];
      if (last && span.start_secs <= last.end_secs) last.end_secs = Math.max(last.end_secs, span.end_secs);
      else out.push({ start_secs: span.start_secs, end_secs: span.end_secs });
    }
    return out;
  }

  function gaps(spans, duration, minSecs) {
    const out = [];
    let cursor = 0;
    for (const span of union(spans)) {
      if (span.start_secs - cursor >= minSecs) out.push({ start_secs: cursor, end_secs: span.start_secs });
      cursor = Math.max(cursor, span.end_secs);
    }
    if (duration - cursor >= minSecs) out.push({ start_secs: cursor, end_secs: duration });
    return out;
  }

  function overlaps(a, b, minSecs) {
    const out = [];
    for (const x of union(a)) {
      for (const y of union(b)) {
        const start = Math.max(x.start_secs, y.start_secs);
        const end = Math.min(x.end_secs, y.end_secs);
        if (end - start >= minSecs) out.push({ start_secs: start, end_secs: end });
      }
    }
    return out;
  }

  function channelNames(layout, count) {
    if (count < 2) return ['Mix'];
    if (layout === 'agent_customer') return ['Agent', 'Customer'];
    if (layout === 'customer_agent') return ['Customer', 'Agent'];
    return Array.from({ length: count }, (_, i) => 'Channel ' + (i + 1));
  }

  CS.pages.call = async function (main, [callId], params) {
    const base = '/v1/calls/' + encodeURIComponent(callId);
    const call = await CS.get(base);
    main.appendChild(CS.el('p', { class: 'crumbs' }, CS.link('/app/queue', '← Queue')));
    main.appendChild(CS.el('h1', {}, 'Call ' + (call.external_call_id || call.call_id)));
    const summary = call.summary || {};
    const facts = [
      ['Status', call.status], ['Agent', call.agent_id], ['Team', call.team], ['Customer', call.customer_id],
      ['Script', call.script_id ? call.script_id + ' v' + call.script_version : null], ['Uploaded', CS.fmtDate(call.created_at)],
      ['Duration', CS.fmtSecs(summary.duration_secs)], ['Compliance', CS.fmtPct(summary.compliance_score)],
      ['Customer sentiment', summary.customer_sentiment ? summary.customer_sentiment.label : null],
    ];
    main.appendChild(CS.el('dl', { class: 'facts', id: 'call-facts' },
      facts.filter(([, v]) => v).map(([k, v]) => CS.el('div', {}, CS.el('dt', {}, k), CS.el('dd', {}, v)))));

    let report = null;
    try {
      report = await CS.get(base + '/report');
    } catch (error) {
      main.appendChild(CS.message(error.code === 'not_ready' ? 'Not analysed yet: ' + error.message : error.message,
        error.code === 'not_ready' ? 'info' : 'error'));
    }

    // --- player, waveform and timeline ---
    const player = CS.el('audio', { id: 'player', controls: true, preload: 'auto', src: base + '/audio' });
    const seek = (secs, play) => {
      player.currentTime = Math.max(0, secs);
      if (play) player.play().catch(() => { /* no audio device or not allowed: the position still moved */ });
    };
    const playerSection = CS.el('section', { class: 'player', 'aria-label': 'Recording' }, player);
    main.appendChild(playerSection);
    const duration = (report && report.duration_secs) || summary.duration_secs || 0;
    const waveHolder = CS.el('div', { class: 'wave', id: 'waveform' }, CS.el('p', { class: 'muted' }, 'Loading waveform…'));
    playerSection.appendChild(waveHolder);
    drawWaveform(waveHolder, base, callId, call, report, duration, seek, player).catch((error) => {
      CS.clear(waveHolder).appendChild(CS.message('Waveform: ' + error.message));
    });

    if (!report) return;

    const grid = CS.el('div', { class: 'review-grid' });
    main.appendChild(grid);
    const left = CS.el('div', {});
    const right = CS.el('div', {});
    grid.append(left, right);

    // Evidence of failed rules, to highlight words in the transcript.
    const rules = (report.compliance && report.compliance.rules) || [];
    const failedSpans = rules.filter((r) => !r.passed).flatMap((r) => r.evidence || []);
    const inFailedEvidence = (word) => failedSpans.some((e) => word.start_secs < e.end_secs && word.end_secs > e.start_secs);

    // --- transcript ---
    const transcript = CS.el('section', { class: 'transcript', id: 'transcript', 'aria-label': 'Transcript' }, CS.el('h2', {}, 'Transcript'));
    const wordNodes = [];
    for (const [turnIndex, turn] of report.turns.entries()) {
      const words = turn.words && turn.words.length ? turn.words : null;
      const text = CS.el('p', { class: 'turn-text' });
      if (words) {
        for (const word of words) {
          const node = CS.el('button', {
            type: 'button', class: 'word' + (inFailedEvidence(word) ? ' evidence-fail' : ''),
            dataset: { start: word.start_secs }, title: CS.fmtSecs(word.start_secs),
            onclick: () => seek(word.start_secs, true),
          }, word.text);
          wordNodes.push([word, node]);
          text.append(node, ' ');
        }
      } else {
        text.append(turn.text);
      }
      const sentiment = turn.sentiment ? CS.el('span', { class: 'badge s-' + turn.sentiment.label }, turn.sentiment.label) : null;
      transcript.appendChild(CS.el('div', { class: 'turn speaker-' + turn.speaker, id: 'turn-' + turnIndex },
        CS.el('div', { class: 'turn-head' },
          CS.el('button', { type: 'button', class: 'time', onclick: () => seek(turn.start_secs, true), 'aria-label': 'Play from ' + CS.fmtSecs(turn.start_secs) },
            CS.fmtSecs(turn.start_secs)),
          CS.el('strong', {}, turn.speaker), sentiment),
        text));
    }
    left.appendChild(transcript);
    // Follow the playback: the word being spoken is marked.
    let current = null;
    const onTime = () => {
      const t = player.currentTime;
      const hit = wordNodes.find(([w]) => t >= w.start_secs && t < w.end_secs);
      const node = hit ? hit[1] : null;
      if (node !== current) {
        if (current) current.classList.remove('current');
        if (node) node.classList.add('current');
        current = node;
      }
    };
    player.addEventListener('timeupdate', onTime);

    // --- rules and review ---
    right.appendChild(rulesSection(rules, seek, report));
    right.appendChild(await reviewSection(base, rules));
    right.appendChild(sentimentPlot(report, duration, seek));
    right.appendChild(flagsSection(report, seek));
    right.appendChild(await verificationSection(base, call.customer_id));

    const start = Number(params.get('t'));
    if (params.has('t') && Number.isFinite(start)) seek(start, false);
  };

  async function drawWaveform(holder, base, callId, call, report, reportDuration, seek, player) {
    const wave = await CS.get('/web/calls/' + encodeURIComponent(callId) + '/waveform?columns=' + WAVE_COLUMNS);
    const duration = wave.duration_secs || reportDuration || 1;
    const names = channelNames(call.channel_layout || wave.channel_layout, wave.channels.length);
    const width = 1000;
    const laneHeight = 56;
    const timelineRows = [];
    if (report) {
      const speechBy = {};
      for (const party of report.speech || []) speechBy[party.speaker] = party.segments || [];
      const all = Object.values(speechBy).flat();
      for (const [speaker, segments] of Object.entries(speechBy)) timelineRows.push([speaker + ' speech', 'speech-' + speaker, segments]);
      timelineRows.push(['silence', 'silence', gaps(all, duration, MIN_SILENCE_SECS)]);
      timelineRows.push(['hold', 'hold', (report.metrics && report.metrics.holds) || []]);
      timelineRows.push(['talk-over', 'talkover', overlaps(speechBy.agent || [], speechBy.customer || [], MIN_TALK_OVER_SECS)]);
    }
    const rowHeight = 12;
    const height = wave.channels.length * laneHeight + timelineRows.length * (rowHeight + 4) + 18;
    const x = (secs) => (secs / duration) * width;
    const svg = CS.svg('svg', {
      viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', class: 'wave-svg', role: 'slider', tabindex: 0,
      'aria-label': 'Waveform and timeline; click or use the arrow keys to move through the call',
      'aria-valuemin': 0, 'aria-valuemax': Math.round(duration), 'aria-valuenow': 0,
    });
    wave.channels.forEach((peaks, channelIndex) => {
      const top = channelIndex * laneHeight;
      const mid = top + laneHeight / 2;
      const scale = laneHeight / 2 - 2;
      let d = '';
      const n = peaks.max.length;
      for (let i = 0; i < n; i += 1) {
        const px = (i / n) * width;
        d += `M${px.toFixed(1)} ${(mid - peaks.max[i] * scale).toFixed(1)}V${(mid - peaks.min[i] * scale + 0.5).toFixed(1)}`;
      }
      svg.appendChild(CS.svg('rect', { x: 0, y: top, width, height: laneHeight, class: 'lane lane-' + channelIndex }));
      svg.appendChild(CS.svg('path', { d, class: 'peaks peaks-' + channelIndex, 'vector-effect': 'non-scaling-stroke' }));
      svg.appendChild(CS.svg('text', { x: 4, y: top + 13, class: 'lane-label' }, names[channelIndex] || ''));
    });
    let y = wave.channels.length * laneHeight + 4;
    for (const [label, cls, spans] of timelineRows) {
      svg.appendChild(CS.svg('text', { x: 4, y: y + rowHeight - 2, class: 'lane-label' }, label));
      for (const span of spans) {
        const rect = CS.svg('rect', {
          x: x(span.start_secs), y, width: Math.max(1, x(span.end_secs) - x(span.start_secs)), height: rowHeight, class: 'span ' + cls,
        }, CS.svg('title', {}, `${label} ${CS.fmtSecs(span.start_secs)}–${CS.fmtSecs(span.end_secs)}`));
        svg.appendChild(rect);
      }
      y += rowHeight + 4;
    }
    for (const flag of (report && report.flags) || []) {
      if (flag.start_secs === null || flag.start_secs === undefined) continue;
      svg.appendChild(CS.svg('path', { d: `M${x(flag.start_secs)} 0v${height}`, class: 'flag-mark' },
        CS.svg('title', {}, flag.kind + ': ' + flag.reason)));
    }
    const playhead = CS.svg('path', { d: `M0 0v${height}`, class: 'playhead' });
    svg.appendChild(playhead);
    const move = () => {
      playhead.setAttribute('d', `M${x(player.currentTime)} 0v${height}`);
      svg.setAttribute('aria-valuenow', Math.round(player.currentTime));
    };
    player.addEventListener('timeupdate', move);
    player.addEventListener('seeked', move);
    svg.addEventListener('click', (event) => {
      const box = svg.getBoundingClientRect();
      seek(((event.clientX - box.left) / box.width) * duration, false);
    });
    svg.addEventListener('keydown', (event) => {
      const step = event.shiftKey ? 1 : 5;
      if (event.key === 'ArrowRight') seek(Math.min(duration, player.currentTime + step), false);
      else if (event.key === 'ArrowLeft') seek(player.currentTime - step, false);
      else if (event.key === ' ') (player.paused ? player.play().catch(() => {}) : player.pause());
      else return;
      event.preventDefault();
    });
    CS.clear(holder).append(svg, CS.el('p', { class: 'legend muted small' },
      'Click the waveform to seek; ←/→ move 5 s, Space plays. Timeline rows: speech per party, silence ≥ ',
      String(MIN_SILENCE_SECS), ' s, hold, talk-over; red lines mark flags.'));
  }

  function rulesSection(rules, seek, report) {
    const section = CS.el('section', { id: 'rules', 'aria-label': 'Script rules' }, CS.el('h2', {}, 'Script rules'));
    if (!report.compliance) {
      section.appendChild(CS.el('p', { class: 'muted' }, 'No script was checked on this call.'));
      return section;
    }
    section.appendChild(CS.el('p', {}, 'Compliance score ', CS.el('strong', {}, CS.fmtPct(report.compliance.score)),
      ' · script ', report.compliance.script_id));
    // Failed rules first: that is what the reviewer is here for.
    const ordered = rules.slice().sort((a, b) => Number(a.passed) - Number(b.passed));
    for (const rule of ordered) {
      const evidence = (rule.evidence || []).map((e, i) => CS.el('li', {},
        CS.el('button', {
          type: 'button', class: 'evidence', id: `evidence-${rule.id}-${i}`, dataset: { start: e.start_secs, rule: rule.id },
          onclick: () => seek(e.start_secs, true),
        }, '▶ ' + CS.fmtSecs(e.start_secs)), ' ', CS.el('q', {}, e.text || '(silence)')));
      section.appendChild(CS.el('article', { class: 'rule ' + (rule.passed ? 'pass' : 'fail'), id: 'rule-' + rule.id },
        CS.el('h3', {}, CS.el('span', { class: 'badge ' + (rule.passed ? 'pass' : 'fail') }, rule.passed ? 'passed' : 'failed'), ' ',
          rule.id, ' ', CS.el('span', { class: 'muted small' }, rule.kind + ' · ' + rule.severity)),
        CS.el('p', { class: 'small' }, rule.reason),
        evidence.length ? CS.el('ul', { class: 'evidence-list' }, evidence) : null));
    }
    return section;
  }

  async function reviewSection(base, rules) {
    const section = CS.el('section', { id: 'review', 'aria-label': 'Review' }, CS.el('h2', {}, 'Review'));
    const history = CS.el('div', { id: 'review-history' });
    const renderHistory = async () => {
      CS.clear(history);
      const list = await CS.get(base + '/reviews');
      if (list.reviews.length === 0) history.appendChild(CS.el('p', { class: 'muted' }, 'No reviews yet.'));
      for (const review of list.reviews.slice().reverse()) {
        history.appendChild(CS.el('article', { class: 'past-review', dataset: { reviewId: review.review_id } },
          CS.el('p', { class: 'small muted' }, CS.fmtDate(review.created_at), ' · key ', CS.shortId(review.reviewer_key_id)),
          CS.el('ul', {}, Object.entries(review.verdicts).map(([rule, verdict]) =>
            CS.el('li', {}, rule, ': ', CS.el('span', { class: 'badge ' + (verdict === 'agree' ? 'pass' : 'fail') }, verdict)))),
          review.note ? CS.el('p', { class: 'note' }, review.note) : null));
      }
    };
    if (CS.can('review') && rules.length) {
      const form = CS.el('form', { id: 'review-form' });
      for (const rule of rules) {
        const name = 'verdict-' + rule.id;
        form.appendChild(CS.el('fieldset', { class: 'verdict' },
          CS.el('legend', {}, rule.id, ' ', CS.el('span', { class: 'muted small' }, rule.passed ? '(passed)' : '(failed)')),
          CS.el('label', {}, CS.el('input', { type: 'radio', name, value: 'agree', id: `${name}-agree` }), ' agree'),
          CS.el('label', {}, CS.el('input', { type: 'radio', name, value: 'disagree', id: `${name}-disagree` }), ' disagree')));
      }
      const note = CS.el('textarea', { id: 'review-note', name: 'note', rows: 3, maxlength: 10000 });
      const status = CS.el('div', { id: 'review-status', 'aria-live': 'polite' });
      form.append(CS.el('label', { for: 'review-note' }, 'Note'), note,
        CS.el('button', { type: 'submit', id: 'review-save' }, 'Save review'), status);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        CS.clear(status);
        const verdicts = {};
        for (const rule of rules) {
          const checked = form.querySelector(`input[name="verdict-${CSS.escape(rule.id)}"]:checked`);
          if (checked) verdicts[rule.id] = checked.value;
        }
        if (Object.keys(verdicts).length === 0) {
          status.appendChild(CS.message('Choose agree or disagree for at least one rule.'));
          return;
        }
        const body = { verdicts };
        if (note.value.trim()) body.note = note.value.trim();
        try {
          await CS.api('POST', base + '/reviews', body);
          status.appendChild(CS.message('Review saved.', 'info'));
          form.reset();
          await renderHistory();
        } catch (error) {
          status.appendChild(CS.message(error.message));
        }
      });
      section.appendChild(form);
    }
    section.append(CS.el('h3', {}, 'Earlier reviews'), history);
    await renderHistory();
    return section;
  }

  function sentimentPlot(report, duration, seek) {
    const section = CS.el('section', { id: 'sentiment', 'aria-label': 'Customer sentiment' }, CS.el('h2', {}, 'Customer sentiment'));
    const points = report.turns.filter((t) => t.speaker === 'customer' && t.sentiment)
      .map((t) => ({ t: (t.start_secs + t.end_secs) / 2, score: t.sentiment.score, label: t.sentiment.label, start: t.start_secs }));
    if (points.length === 0) {
      section.appendChild(CS.el('p', { class: 'muted' }, 'No customer speech with a sentiment score.'));
      return section;
    }
    const width = 400;
    const height = 120;
    const x = (t) => 30 + (t / (duration || 1)) * (width - 40);
    const y = (s) => 10 + ((1 - s) / 2) * (height - 30);
    const svg = CS.svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'plot', role: 'img', 'aria-label': 'Customer sentiment per turn over the call, from -1 to 1' });
    for (const level of [1, 0, -1]) {
      svg.append(CS.svg('path', { d: `M30 ${y(level)}H${width - 10}`, class: level === 0 ? 'axis zero' : 'axis' }),
        CS.svg('text', { x: 2, y: y(level) + 4, class: 'tick' }, String(level)));
    }
    svg.appendChild(CS.svg('path', { d: points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)} ${y(p.score).toFixed(1)}`).join(''), class: 'line' }));
    for (const p of points) {
      svg.appendChild(CS.svg('circle', { cx: x(p.t), cy: y(p.score), r: 4, class: 'dot s-' + p.label, onclick: () => seek(p.start, true) },
        CS.svg('title', {}, `${CS.fmtSecs(p.start)}: ${p.label} (${p.score.toFixed(2)})`)));
    }
    svg.appendChild(CS.svg('text', { x: width - 60, y: height - 4, class: 'tick' }, CS.fmtSecs(duration)));
    section.appendChild(svg);
    const traj = report.sentiment && report.sentiment.customer_trajectory;
    if (traj) {
      section.appendChild(CS.el('p', { class: 'small' }, `Start ${traj.start.label} (${traj.start.score.toFixed(2)}) → end ${traj.end.label} (${traj.end.score.toFixed(2)})`));
    }
    return section;
  }

  function flagsSection(report, seek) {
    const section = CS.el('section', { id: 'flags', 'aria-label': 'Flags' }, CS.el('h2', {}, 'Flags and watchlist'));
    const flags = report.flags || [];
    if (flags.length === 0) section.appendChild(CS.el('p', { class: 'muted' }, 'No flags.'));
    const list = CS.el('ul', { class: 'flags' });
    for (const flag of flags) {
      const at = flag.start_secs !== null && flag.start_secs !== undefined
        ? CS.el('button', { type: 'button', class: 'evidence', onclick: () => seek(flag.start_secs, true) }, '▶ ' + CS.fmtSecs(flag.start_secs))
        : null;
      list.appendChild(CS.el('li', { class: flag.kind === 'watchlist_hit' ? 'watchlist' : null },
        CS.el('span', { class: 'badge sev-' + flag.severity }, flag.severity), ' ', CS.el('strong', {}, flag.kind), ' ', at, ' ', flag.reason));
    }
    section.appendChild(list);
    const m = report.metrics || {};
    section.appendChild(CS.el('p', { class: 'small' },
      `Silence ${CS.fmtNum(m.non_talk_secs)} s (longest ${CS.fmtNum(m.longest_silence_secs)} s) · talk-over ${CS.fmtNum(m.talk_over_secs)} s in ${m.talk_over_count || 0} · holds ${(m.holds || []).length}`));
    return section;
  }

  // The call's biometric decisions (`/v1/calls/{id}/biometrics`): verifications of the customer
  // by the IVR or the live stream, watchlist screening and passive enrolment.
  async function verificationSection(base, customerId) {
    const section = CS.el('section', { id: 'verification', 'aria-label': 'Voice verification' }, CS.el('h2', {}, 'Voice verification'));
    try {
      const result = await CS.get(base + '/biometrics');
      if (result.entries.length === 0) {
        section.appendChild(CS.el('p', { class: 'muted' }, customerId
          ? `No voice verification or screening recorded for customer ${customerId} around this call.`
          : 'No customer id on this call and no screening recorded.'));
        return section;
      }
      const label = { verify: 'Verification', screen: 'Watchlist screening', enrol: 'Passive enrolment' };
      section.appendChild(CS.el('ul', { class: 'biometrics' }, result.entries.map((e) => CS.el('li', { dataset: { action: e.action, outcome: e.outcome } },
        CS.el('strong', {}, label[e.action] || e.action), ' ', CS.el('span', { class: 'badge ' + outcomeClass(e.outcome) }, e.outcome.replace(/_/g, ' ')),
        e.speaker_id ? ` ${e.speaker_id}` : '',
        e.score !== null ? ` · score ${e.score.toFixed(2)}` : '',
        e.net_speech_secs !== null ? ` · ${CS.fmtNum(e.net_speech_secs)} s of speech` : '',
        e.reasons.length ? ` · ${e.reasons.join(', ')}` : '',
        CS.el('span', { class: 'muted small' }, ` (${e.source}, ${CS.fmtDate(e.created_at)})`)))));
    } catch (error) {
      section.appendChild(CS.message(error.message));
    }
    return section;
  }

  function outcomeClass(outcome) {
    if (outcome === 'accept' || outcome === 'enrolled') return 's-positive';
    if (outcome === 'reject' || outcome === 'watchlist_hit') return 's-negative';
    return 's-neutral';
  }
})();
