// Callsight web pages: full-text search over transcripts (GET /v1/search). Each hit shows its
// excerpt with the matches marked and links to the moment in the call where the words are said.
'use strict';

(function () {
  const MAX_HITS = 20;

  /** The excerpt `a [match] b` as text and <mark> nodes. */
  function snippetNodes(snippet) {
    const nodes = [];
    const pattern = /\[([^\]]*)\]/g;
    let last = 0;
    let match;
    while ((match = pattern.exec(snippet)) !== null) {
      nodes.push(snippet.slice(last, match.index), CS.el('mark', {}, match[1]));
      last = pattern.lastIndex;
    }
    nodes.push(snippet.slice(last));
    return nodes;
  }

  const normalise = (w) => w.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');

  /** Start of the first transcript word matching one of the query's words. */
  async function momentOf(callId, queryWords) {
    const transcript = await CS.get('/v1/calls/' + encodeURIComponent(callId) + '/transcript');
    for (const turn of transcript.turns) {
      for (const word of turn.words) {
        if (queryWords.includes(normalise(word.text))) return { secs: word.start_secs, speaker: turn.speaker };
      }
    }
    return null;
  }

  CS.pages.search = async function (main, _match, params) {
    const q = params.get('q') || '';
    main.appendChild(CS.el('h1', {}, 'Search transcripts'));
    const input = CS.el('input', { type: 'search', name: 'q', id: 'search-q', value: q, placeholder: 'words said in the call', 'aria-label': 'Search words' });
    const form = CS.el('form', { class: 'filters', role: 'search', id: 'search-form' }, input, CS.el('button', { type: 'submit', id: 'search-submit' }, 'Search'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      CS.navigate('/app/search' + CS.query({ q: input.value.trim() }));
    });
    main.appendChild(form);
    if (!q.trim()) {
      input.focus();
      return;
    }
    const results = await CS.get('/v1/search' + CS.query({ q, limit: MAX_HITS }));
    const list = CS.el('ol', { class: 'hits', id: 'search-hits' });
    main.append(CS.el('p', { class: 'muted', id: 'search-count' }, `${results.hits.length} calls${results.hits.length === MAX_HITS ? ' (first ' + MAX_HITS + ')' : ''}`), list);
    const queryWords = q.split(/\s+/).map(normalise).filter(Boolean);
    for (const hit of results.hits) {
      const moment = CS.el('span', { class: 'muted small' }, 'finding the moment…');
      list.appendChild(CS.el('li', { class: 'hit', dataset: { callId: hit.call_id } },
        CS.el('p', {}, CS.link('/app/calls/' + encodeURIComponent(hit.call_id), 'Call ' + CS.shortId(hit.call_id)), ' ', moment),
        CS.el('blockquote', {}, snippetNodes(hit.snippet))));
      momentOf(hit.call_id, queryWords).then((found) => {
        CS.clear(moment);
        if (found) {
          moment.appendChild(CS.link(`/app/calls/${encodeURIComponent(hit.call_id)}?t=${found.secs.toFixed(2)}`,
            `▶ ${found.speaker} at ${CS.fmtSecs(found.secs)}`, { class: 'moment-link' }));
        }
      }).catch(() => CS.clear(moment));
    }
  };
})();
