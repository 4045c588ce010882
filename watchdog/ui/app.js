// warden's page: the state of the watchdog group, its Redis groups and
// clusters, the running operations and the events, from the API of the
// member that served it. It follows GET /v1/events (Server-Sent Events,
// read with fetch() so the bearer token can go with it) and re-reads the
// small JSON state after every event, and every few seconds besides (node
// health and operation progress change without an event).
'use strict';

(() => {
  const TOKEN_KEY = 'warden.token';
  const MAX_EVENTS = 200; // kept on the page
  const BACKLOG = 50; // events replayed when the page opens
  const SVG = 'http://www.w3.org/2000/svg'; // a namespace name, never fetched
  const NODE = { up: 'green', sdown: 'amber', odown: 'red' };
  const GROUP = { ok: 'green', failing_over: 'amber', ambiguous: 'red' };
  const OP = { running: 'blue', done: 'green', failed: 'red', cancelled: 'grey' };
  const SEVERITY = { info: 'grey', warning: 'amber', critical: 'red' };

  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let locked = false; // waiting for a token: no call goes out
  let lastSeq = null; // newest event received
  let events = []; // newest first
  let lastEventOnLoad = 0;
  let loading = null;
  let loadAgain = false;
  let pollTimer = 0;
  let generation = 0; // a new token starts a new stream; the old one ends
  let abort = null;

  class Unauthorized extends Error {}

  function authHeaders(extra) {
    const h = Object.assign({}, extra);
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }

  async function api(path) {
    const res = await fetch(path, { headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' });
    if (res.status === 401) throw new Unauthorized('token refused');
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(path + ': ' + (body && body.error ? body.error.message : 'HTTP ' + res.status));
    return body;
  }

  // h builds an element: h('div', {class: 'x'}, child, 'text', [more]).
  // Text always goes in as text, never as HTML.
  function h(tag, attrs, ...kids) {
    const el = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : String(v));
    }
    add(el, kids);
    return el;
  }
  function add(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k !== null && k !== undefined && k !== false && k !== '') el.append(k instanceof Node ? k : String(k));
    }
  }
  function fill(id, ...kids) {
    const el = $(id);
    el.replaceChildren();
    add(el, kids);
  }
  const badge = (text, colour) => h('span', { class: 'badge ' + colour }, text);
  const clock = (t) => (t ? new Date(t).toLocaleTimeString() : '');
  const num = (n) => Math.round(n || 0).toLocaleString();
  const cut = (s, n) => (s.length > n ? s.slice(0, n) + '…' : s);
  function seconds(s) {
    if (s < 10) return s.toFixed(1) + ' s';
    s = Math.round(s);
    return s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : (s / 3600).toFixed(1) + ' h';
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function setConn(text, colour) {
    const el = $('conn');
    el.textContent = text;
    el.className = 'badge ' + colour;
  }
  function showError(msg) {
    $('error').textContent = msg || '';
    $('error').hidden = !msg;
  }

  // --- the token -----------------------------------------------------------

  function askToken(msg) {
    locked = true;
    clearTimeout(pollTimer);
    if (abort) abort.abort();
    $('main').hidden = true;
    $('login').hidden = false;
    $('login-why').textContent = msg;
    setConn('token needed', 'amber');
    $('token').focus();
  }

  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    token = '';
    askToken('');
  });

  function start() {
    locked = false;
    $('login').hidden = true;
    $('main').hidden = false;
    $('forget').hidden = !token;
    const gen = ++generation;
    refresh().then(() => {
      if (!locked && gen === generation) stream(gen);
    });
  }

  // --- the state -------------------------------------------------------------

  // refresh reads the state once; calls made meanwhile are folded into one
  // more read after it. The next periodic read is planned after each.
  function refresh() {
    if (locked) return Promise.resolve();
    if (loading) {
      loadAgain = true;
      return loading;
    }
    clearTimeout(pollTimer);
    let running = false;
    loading = load()
      .then((st) => {
        running = st.ops.some((o) => o.state === 'running');
        showError('');
      })
      .catch((err) => (err instanceof Unauthorized ? askToken(token ? 'The token was refused.' : '') : showError(err.message)))
      .finally(() => {
        loading = null;
        if (locked) return;
        if (loadAgain) {
          loadAgain = false;
          refresh();
        } else {
          pollTimer = setTimeout(refresh, running ? 1000 : 3000);
        }
      });
    return loading;
  }

  async function load() {
    const [status, groups, clusters, ops] = await Promise.all([
      api('v1/status'), api('v1/groups'), api('v1/clusters'), api('v1/operations'),
    ]);
    const st = { status, groups: groups.groups || [], clusters: clusters.clusters || [], ops: ops.operations || [] };
    lastEventOnLoad = status.last_event || 0;
    render(st);
    return st;
  }

  function render(st) {
    const s = st.status;
    $('served').textContent = `page served by ${s.id} (${s.raft_state.toLowerCase()})`;
    $('updated').textContent = 'updated ' + clock(new Date());
    const reporting = new Set();
    for (const g of st.groups) (g.reporters || []).forEach((r) => reporting.add(r));
    for (const c of st.clusters) ((c.view && c.view.reporters) || []).forEach((r) => reporting.add(r));
    renderWatchdogs(s, reporting, st.groups.length + st.clusters.length > 0);
    fill('groups', st.groups.length ? st.groups.map(groupCard) : h('p', { class: 'empty' }, 'no master/replica group is watched'));
    fill('clusters', st.clusters.length ? st.clusters.map(clusterCard) : h('p', { class: 'empty' }, 'no Redis Cluster is watched'));
    renderOperations(st.ops);
  }

  // A member is green when its reports are fresh on the leader, red when
  // they are not; grey when there is nothing to report on.
  function renderWatchdogs(s, reporting, watching) {
    fill('watchdogs', (s.peers || []).map((p) => {
      const leader = p.id === s.leader_id;
      const colour = !s.leader_id ? 'red' : !watching ? 'grey' : reporting.has(p.id) ? 'green' : 'red';
      return h('div', { class: 'box member ' + colour, 'data-member': p.id, 'data-leader': leader ? 'true' : null },
        h('div', { class: 'name' }, p.id, leader ? h('span', { class: 'tag leader' }, '★ leader') : null,
          p.id === s.id ? h('span', { class: 'tag' }, 'this page') : null),
        h('div', { class: 'small' }, p.addr, ' · ', (p.suffrage || '').toLowerCase()),
        h('div', { class: 'small' }, !watching ? 'nothing to watch' : reporting.has(p.id) ? 'reporting' : 'no fresh report'));
    }), s.leader_id ? null : h('p', { class: 'alert red' }, `${s.id} knows no leader: no failover can happen until a quorum is back`));
  }

  function groupCard(g) {
    const master = g.nodes.find((n) => n.addr === g.master);
    const others = g.nodes.filter((n) => n.addr !== g.master);
    const fo = g.failover;
    const lf = g.last_failover;
    return h('article', { class: 'card', 'data-group': g.name },
      h('header', {}, h('h3', {}, g.name), badge(g.status.replace('_', ' '), GROUP[g.status] || 'grey'),
        h('span', { class: 'small' }, 'epoch ' + g.epoch),
        g.view_age_ms < 0 ? h('span', { class: 'small warn' }, 'no fresh view from the leader') : null),
      fo ? h('p', { class: 'alert amber' }, `${fo.kind} running: ${fo.from} → ${fo.to || '?'} (${fo.stage})`) : null,
      h('div', { class: 'tree' },
        master ? nodeBox(master, 'master', g.master)
          : h('div', { class: 'box node master grey' }, h('div', { class: 'addr' }, 'no master known')),
        others.length ? h('div', { class: 'replicas' }, others.map((n) => nodeBox(n, 'replica', g.master))) : null),
      g.reason ? h('p', { class: 'small' }, g.reason) : null,
      g.blocked_until ? h('p', { class: 'small' }, 'anti-flapping window open until ' + clock(g.blocked_until)) : null,
      lf ? h('p', { class: 'small' + (lf.ok ? '' : ' err') }, `last ${lf.kind} ${clock(lf.ended_at)}: ${lf.from} → ${lf.to}`,
        lf.ok ? '' : ' failed: ' + (lf.error || '')) : null);
  }

  // nodeBox draws one Redis node; place is where the picture puts it.
  function nodeBox(n, place, master) {
    const claims = place === 'replica' && n.role === 'master' && (n.health === 'up' || n.health === 'sdown');
    const follows = n.master_addr && n.master_addr !== master ? ' (follows ' + n.master_addr + ')' : '';
    return h('div', { class: `box node ${place} ${NODE[n.health] || 'grey'}`, 'data-addr': n.addr, 'data-health': n.health,
      'data-role': n.role, 'data-follows': n.master_addr, 'data-link': n.link_up === undefined ? null : String(n.link_up) },
      h('div', { class: 'addr' }, n.addr),
      h('div', { class: 'small' }, place === 'master' ? 'master' : n.role, ' · ', n.health,
        n.votes_down ? ` · ${n.votes_down} down vote${n.votes_down > 1 ? 's' : ''}` : ''),
      n.slots !== undefined ? h('div', {}, 'slots ', h('b', {}, n.slots || 'none')) : null,
      claims ? h('div', { class: 'warn' }, 'claims to be a master') : null,
      n.role === 'replica' && n.link_up !== undefined
        ? h('div', { class: 'small' + (n.link_up ? '' : ' warn') }, n.link_up ? 'link up' : 'link down', follows) : null,
      h('div', { class: 'small' }, 'offset ' + num(n.offset), n.latency_ms ? ` · ${n.latency_ms.toFixed(2)} ms` : ''),
      n.maintenance_until ? h('div', { class: 'tag' }, 'maintenance until ' + clock(n.maintenance_until)) : null);
  }

  // ranges reads "0-5460,5462" into [[0, 5460], [5462, 5462]].
  function ranges(s) {
    return (s || '').split(',').map((r) => r.trim()).filter(Boolean).map((r) => {
      const [a, b] = r.split('-').map(Number);
      return [a, b === undefined ? a : b];
    });
  }

  // slotText shortens a long slot list (the bar shows all of it).
  function slotText(slots) {
    const r = (slots || '').split(',');
    return r.length > 4 ? r.slice(0, 3).join(',') + ` … ${r.length - 3} more ranges` : slots;
  }

  function clusterCard(c) {
    const v = c.view;
    const nodes = new Map(((v && v.nodes) || []).map((n) => [n.addr, n]));
    let shards = v ? v.shards || [] : (c.recorded_shards || []).map((s) => ({
      master_addr: s.master_addr, slots: s.slots, health: 'unknown',
      slot_count: ranges(s.slots).reduce((t, [a, b]) => t + b - a + 1, 0),
      replicas: (s.replicas || []).map((r) => r.slice(r.indexOf('@') + 1)),
    }));
    const first = (s) => (ranges(s.slots)[0] || [16384])[0];
    shards = shards.slice().sort((a, b) => first(a) - first(b));
    const ok = v && v.state === 'ok';
    const colour = !v ? 'grey' : !ok ? 'red' : v.uncovered_slots || (v.open_slots || []).length ? 'amber' : 'green';
    const some = (list, n) => list.slice(0, n).join(', ') + (list.length > n ? ` and ${list.length - n} more` : '');
    const problems = v ? [
      v.uncovered_slots ? 'uncovered slots ' + cut(v.uncovered_slots, 200) : '',
      (v.open_slots || []).length ? `${v.open_slots.length} open slots (migrating or importing): ` + cut(some(v.open_slots, 5), 300) : '',
      (v.masters_without_replica || []).length ? 'masters without replica: ' + some(v.masters_without_replica, 5) : '',
    ].filter(Boolean) : [];
    const views = v ? [...(v.conflicts || []), ...(v.disagreements || [])] : [];
    return h('article', { class: 'card', 'data-cluster': c.name },
      h('header', {}, h('h3', {}, c.name), badge(v ? 'cluster_state ' + v.state : 'no fresh view', colour),
        v ? h('span', { class: 'small' }, `${v.masters_up}/${v.masters_total} masters up · ${shards.length} shards`) : null,
        c.failover ? h('span', { class: 'warn' }, `failover running: ${c.failover.from} → ${c.failover.to}`) : null),
      slotBar(shards),
      problems.map((p) => h('p', { class: 'alert amber' }, p)),
      views.length ? h('details', { class: 'alert amber' }, h('summary', {}, `${views.length} conflicts or disagreements between the views`),
        views.slice(0, 10).map((d) => h('div', { class: 'small' }, cut(d, 300)))) : null,
      h('div', { class: 'shards' }, shards.map((s, i) => h('div', { class: 'shard', 'data-shard': s.master_addr },
        h('div', { class: 'swatch s' + (i % 8) }),
        nodeBox(Object.assign({ addr: s.master_addr, role: 'master', health: s.health }, nodes.get(s.master_addr),
          { slots: `${slotText(s.slots)} (${s.slot_count})` }), 'master', s.master_addr),
        (s.replicas || []).length
          ? h('div', { class: 'replicas' }, s.replicas.map((a) => nodeBox(nodes.get(a) || { addr: a, role: 'replica', health: 'unknown' }, 'replica', s.master_addr)))
          : h('div', { class: 'small warn' }, 'no replica')))));
  }

  // slotBar draws the 16384 slots as one bar: a colour per shard, red where
  // no shard serves them.
  function slotBar(shards) {
    const svg = h('svg:svg', { class: 'slots', viewBox: '0 0 16384 10', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'slot map' },
      h('svg:rect', { class: 'uncovered', x: 0, y: 0, width: 16384, height: 10 }));
    shards.forEach((s, i) => ranges(s.slots).forEach(([a, b]) => svg.append(
      h('svg:rect', { class: 's' + (i % 8), x: a, y: 0, width: b - a + 1, height: 10 },
        h('svg:title', {}, `${s.master_addr}: ${a === b ? a : a + '-' + b}`)))));
    return svg;
  }

  function renderOperations(ops) {
    const running = ops.filter((o) => o.state === 'running');
    const ended = ops.filter((o) => o.state !== 'running').slice(-5).reverse();
    fill('operations',
      running.length ? running.map(opCard) : h('p', { class: 'empty' }, 'no operation running'),
      ended.length ? h('details', {}, h('summary', {}, `the last ${ended.length} ended`), ended.map(opCard)) : null);
  }

  function opCard(o) {
    const moving = o.slots_total > 0;
    return h('div', { class: 'op ' + (OP[o.state] || 'grey'), 'data-op': o.id },
      h('div', {}, h('b', {}, o.id), ' ', o.kind.replace('_', ' '), ' ', badge(o.state, OP[o.state] || 'grey'),
        o.cancel_requested && o.state === 'running' ? h('span', { class: 'warn' }, ' cancel requested') : null),
      h('div', { class: 'small' }, `step ${o.step_number}/${o.steps}`, o.step ? ': ' + o.step : ''),
      moving ? h('progress', { max: o.slots_total, value: o.slots_moved }) : h('progress', { max: o.steps || 1, value: o.cursor }),
      moving ? h('div', { class: 'small' }, `${num(o.slots_moved)}/${num(o.slots_total)} slots · ${num(o.keys_moved)} keys · ${num(o.keys_per_sec)} keys/s`,
        o.eta_seconds !== undefined ? ' · ETA ' + seconds(o.eta_seconds) : '') : null,
      o.error ? h('div', { class: 'small err' }, o.error) : null,
      h('div', { class: 'small' }, 'started ' + clock(o.started_at), o.ended_at ? ' · ended ' + clock(o.ended_at) : ''));
  }

  function renderEvents() {
    $('events').dataset.lastSeq = lastSeq === null ? '' : String(lastSeq);
    fill('events', events.length ? events.map((e) => h('li', { class: 'ev ' + (SEVERITY[e.severity] || 'grey'), 'data-seq': e.seq, 'data-kind': e.kind },
      h('time', { datetime: e.at, title: e.at }, clock(e.at)), ' ', h('b', {}, e.kind), ' ',
      h('span', { class: 'where' }, [e.group, e.node, e.watchdog].filter(Boolean).join(' ')),
      h('div', {}, e.message))) : h('li', { class: 'empty' }, 'no event yet'));
  }

  // --- the event stream --------------------------------------------------------

  // onBlock takes one Server-Sent Event ("id:", "event:", "data:" lines).
  function onBlock(block) {
    let id = null;
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue; // keepalive
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'data') data += (data ? '\n' : '') + value;
    }
    if (id !== null) lastSeq = Number(id);
    if (!data) return;
    let ev;
    try {
      ev = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!events.length || ev.seq > events[0].seq) {
      events.unshift(ev);
      if (events.length > MAX_EVENTS) events.length = MAX_EVENTS;
    }
    renderEvents();
    refresh();
  }

  // stream follows GET /v1/events for as long as the page is open,
  // reconnecting with Last-Event-ID, so no event is missed or shown twice.
  async function stream(gen) {
    let wait = 500;
    while (!locked && gen === generation) {
      abort = new AbortController();
      try {
        const since = lastSeq !== null ? lastSeq : Math.max(0, lastEventOnLoad - BACKLOG);
        const res = await fetch('v1/events', {
          headers: authHeaders({ Accept: 'text/event-stream', 'Last-Event-ID': String(since) }),
          cache: 'no-store', signal: abort.signal,
        });
        if (res.status === 401) {
          askToken(token ? 'The token was refused.' : '');
          break;
        }
        if (!res.ok || !res.body) throw new Error('events: HTTP ' + res.status);
        setConn('live', 'green');
        wait = 500;
        if (lastSeq === null) renderEvents();
        else refresh(); // back after a break: catch up at once
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            onBlock(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch (e) {
        // The member went away or the stream broke: retry below.
      }
      if (locked || gen !== generation) break;
      setConn('reconnecting', 'amber');
      await sleep(wait);
      wait = Math.min(wait * 2, 5000);
    }
  }

  start();
})();
