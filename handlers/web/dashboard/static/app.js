/* tradebot dashboard: plain ES2020, no build step, no framework.
 *
 * Data: JSON from <app>/api/* (money as decimal strings). Live: <app>/api/stream, server-sent
 * events read with fetch() so the session header can be sent (EventSource cannot send headers).
 * Sign-in: inside Telegram, initData is exchanged for a session token kept in sessionStorage and
 * sent as X-Tradebot-Session; elsewhere the session cookie from a login link is used, with
 * X-Tradebot-CSRF on state-changing requests. Every text from the server goes in via textContent.
 */
'use strict';

(() => {
  const APP = (document.body.dataset.app || '/app').replace(/\/$/, '');
  const API = `${APP}/api`;
  const SESSION_KEY = 'tradebot.session';
  const TOPICS = ['overview', 'positions', 'trades', 'bots', 'alerts', 'equity'];
  const STREAM_IDLE_MS = 45000; // the server pings every 15 s: silence this long means a dead link
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 30000;
  const TOAST_MS = 5000;

  const tg = window.Telegram && window.Telegram.WebApp ? window.Telegram.WebApp : null;
  const hash = new URLSearchParams(location.hash.slice(1));
  // A Telegram client gives the page a way to talk back (mobile: TelegramWebviewProxy, desktop:
  // external.notify, Telegram Web: a parent frame). A plain browser has none: there, sign-in data in
  // a link's '#tgWebAppData=' is someone else's and is ignored (it would sign this tab in as them).
  const telegramClient = Boolean(
    window.TelegramWebviewProxy ||
      window.parent !== window ||
      (window.external && 'notify' in window.external),
  );
  const inTelegram =
    telegramClient &&
    Boolean(
      (tg && (tg.initData || (tg.platform && tg.platform !== 'unknown'))) ||
        hash.get('tgWebAppData'),
    );

  const state = {
    session: loadSession(),
    csrf: '',
    me: null,
    positions: [],
    equity: [],
    quote: null,
    closing: new Set(),
    botsBusy: new Set(),
    stream: null, // AbortController of the open stream
    signedIn: false,
  };

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ small DOM helpers

  /** el('td', {class: 'x', dataset: {id: 1}}, 'text', otherNode): text children become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'testid') node.dataset.testid = value;
      else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fill(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  // ------------------------------------------------------------------ formatting

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  /** A decimal string with thousands separators; `dp` rounds (display only), else every digit is
   *  kept and trailing zeros dropped. `sign` puts + on positive values; negatives use U+2212. */
  function num(value, { dp = null, sign = false } = {}) {
    if (value === null || value === undefined || value === '') return '—';
    let text = String(value).trim();
    if (!/^[+-]?\d+(\.\d+)?$/.test(text)) return text;
    const negative = text.startsWith('-');
    text = text.replace(/^[+-]/, '');
    if (dp !== null) text = Number(text).toFixed(dp);
    let [int, frac = ''] = text.split('.');
    if (dp === null) frac = frac.replace(/0+$/, '');
    const body = group(int) + (frac ? `.${frac}` : '');
    const zero = !/[1-9]/.test(body);
    if (negative && !zero) return `\u2212${body}`;
    if (sign && !zero) return `+${body}`;
    return body;
  }

  /** Money: two decimals, or every significant digit below 1 (e.g. a BTC-quoted PnL). */
  function money(value, opts = {}) {
    const n = Number(value);
    if (value === null || value === undefined || !Number.isFinite(n)) return num(value, opts);
    const small = n !== 0 && Math.abs(n) < 1;
    return num(value, { ...opts, dp: small ? null : 2 });
  }

  function pct(value, opts = {}) {
    return value === null || value === undefined ? '—' : `${num(value, { dp: 2, ...opts })}%`;
  }

  function signClass(value) {
    const n = Number(value);
    if (value === null || value === undefined || !Number.isFinite(n) || n === 0) return 'flat';
    return n > 0 ? 'pos' : 'neg';
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

  function when(iso) {
    const date = new Date(iso);
    if (!iso || Number.isNaN(date.getTime())) return el('span', { class: 'muted' }, '—');
    return el('time', { datetime: iso, title: fullFormat.format(date) }, timeFormat.format(date));
  }

  function age(iso) {
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (!Number.isFinite(seconds)) return '—';
    const m = Math.floor(seconds / 60) % 60;
    const h = Math.floor(seconds / 3600) % 24;
    const d = Math.floor(seconds / 86400);
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
    return seconds < 60 ? '<1m' : `${m}m`;
  }

  // ------------------------------------------------------------------ the API

  class ApiError extends Error {
    constructor(status, message, field) {
      super(message);
      this.status = status;
      this.field = field || null;
    }
  }

  function loadSession() {
    try {
      return sessionStorage.getItem(SESSION_KEY) || '';
    } catch (_) {
      return '';
    }
  }

  function saveSession(token) {
    state.session = token || '';
    try {
      if (state.session) sessionStorage.setItem(SESSION_KEY, state.session);
      else sessionStorage.removeItem(SESSION_KEY);
    } catch (_) {
      /* storage off: the token lives in memory for this page */
    }
  }

  function authHeaders(method) {
    const headers = {};
    if (state.session) headers['X-Tradebot-Session'] = state.session;
    if (method !== 'GET' && state.csrf) headers['X-Tradebot-CSRF'] = state.csrf;
    return headers;
  }

  async function api(path, { method = 'GET', body } = {}) {
    const headers = { Accept: 'application/json', ...authHeaders(method) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (_) {
      throw new ApiError(0, 'The server cannot be reached: check the connection.');
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (!response.ok) {
      const message = data && typeof data.error === 'string' ? data.error : `HTTP ${response.status}`;
      throw new ApiError(response.status, message, data && data.field);
    }
    return data;
  }

  /** A failed call: 401 means the session is gone (show how to sign in), anything else is shown. */
  function failed(err, where) {
    if (err instanceof ApiError && err.status === 401) {
      signedOut(err.field === 'session' ? '' : err.message); // "sign in first": the help says it
      return;
    }
    if (where) {
      where.textContent = err.message;
      show(where, true);
    } else {
      toast(err.message, 'error');
    }
  }

  // ------------------------------------------------------------------ sign-in

  function telegramInitData() {
    if (!telegramClient) return '';
    if (tg && tg.initData) return tg.initData;
    return hash.get('tgWebAppData') || '';
  }

  async function boot() {
    setupTheme();
    wire();
    let reason = '';
    const initData = telegramInitData();
    if (initData) {
      try {
        const answer = await api('/session', { method: 'POST', body: { init_data: initData } });
        saveSession(answer.session);
        state.csrf = answer.csrf || '';
      } catch (err) {
        // 401: stale or unknown user; 404: Telegram sign-in is off here. A session from before
        // (token or cookie) may still be good, so go on and ask.
        reason = err.message;
      }
    }
    let me = await fetchMe();
    if (!me && state.session) {
      saveSession(''); // an old token: try the cookie alone
      me = await fetchMe();
    }
    if (!me) {
      signedOut(reason);
      return;
    }
    signedIn(me);
  }

  async function fetchMe() {
    try {
      return await api('/me');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return null;
      show($('loading'), true);
      $('loading').textContent = `Cannot load the dashboard: ${err.message}`;
      throw err;
    }
  }

  function signedIn(me) {
    state.me = me;
    state.csrf = me.csrf || state.csrf;
    state.signedIn = true;
    $('user-name').textContent = me.user && me.user.name ? me.user.name : '';
    $('user-role').textContent = me.user && me.user.role ? me.user.role : '';
    show($('who'), true);
    show($('loading'), false);
    show($('signin'), false);
    show($('dash'), true);
    document.body.classList.toggle('can-close', Boolean(me.can && me.can.close));
    document.body.classList.toggle('can-pause', Boolean(me.can && me.can.pause));
    setupChart();
    for (const topic of TOPICS) refresh(topic);
    startStream();
  }

  function signedOut(reason) {
    state.signedIn = false;
    state.me = null;
    stopStream();
    setLive('offline');
    show($('loading'), false);
    show($('dash'), false);
    show($('who'), false);
    show($('signin'), true);
    const note = $('signin-reason');
    note.textContent = reason || '';
    show(note, Boolean(reason));
  }

  async function signOut() {
    try {
      await api('/logout', { method: 'POST' });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        toast(err.message, 'error');
        return;
      }
    }
    saveSession('');
    state.csrf = '';
    signedOut('Signed out.');
  }

  // ------------------------------------------------------------------ loading and rendering

  const LOADERS = {
    overview: async () => renderOverview(await api('/overview')),
    positions: async () => renderPositions(await api('/positions')),
    trades: async () => renderTrades(await api('/trades?limit=50')),
    bots: async () => renderBots(await api('/bots')),
    alerts: async () => renderAlerts(await api('/alerts?limit=30')),
    equity: async () => renderEquity(await api('/equity')),
  };

  const inflight = new Map();
  const again = new Set();

  /** Fetch and redraw one topic; asked again while loading, it loads once more afterwards. */
  function refresh(topic) {
    if (!LOADERS[topic] || !state.signedIn) return Promise.resolve();
    if (inflight.has(topic)) {
      again.add(topic);
      return inflight.get(topic);
    }
    const errorBox = $(`${topic}-error`);
    const job = (async () => {
      try {
        await LOADERS[topic]();
        if (errorBox) show(errorBox, false);
      } catch (err) {
        failed(err, errorBox);
      } finally {
        inflight.delete(topic);
        if (again.delete(topic)) refresh(topic);
      }
    })();
    inflight.set(topic, job);
    return job;
  }

  function card(label, lines, foot, extraClass) {
    return el(
      'div',
      { class: `stat ${extraClass || ''}`.trim() },
      el('div', { class: 'stat-label' }, label),
      lines.length ? lines : el('div', { class: 'stat-value muted' }, '—'),
      foot ? el('div', { class: 'stat-foot' }, foot) : null,
    );
  }

  function renderOverview(data) {
    const currencies = Object.entries((data.stats && data.stats.currencies) || {});
    const equity = [];
    const today = [];
    const drawdown = [];
    let todayTrades = 0;
    for (const [quote, c] of currencies) {
      equity.push(el('div', { class: 'stat-value' }, money(c.equity), el('span', { class: 'unit' }, quote)));
      const period = (c.periods && c.periods.today) || {};
      todayTrades += Number(period.trades || 0);
      today.push(
        el(
          'div',
          { class: `stat-value ${signClass(period.realized)}` },
          money(period.realized, { sign: true }),
          el('span', { class: 'unit' }, quote),
        ),
      );
      drawdown.push(
        el(
          'div',
          { class: `stat-value ${Number(c.drawdown) > 0 ? 'neg' : ''}` },
          pct(c.drawdown),
          currencies.length > 1 ? el('span', { class: 'unit' }, quote) : null,
        ),
      );
    }
    const unrealized = currencies
      .filter(([, c]) => c.unrealized !== null && c.unrealized !== undefined && Number(c.unrealized) !== 0)
      .map(([quote, c]) => `${money(c.unrealized, { sign: true })} ${quote}`);
    const kill = data.kill_switch || {};
    const killText = kill.on
      ? [kill.by ? `by ${kill.by}` : '', kill.reason || ''].filter(Boolean).join(': ')
      : 'trading allowed';
    const bots = Number(data.bots || 0);
    const paused = Number(data.paused || 0);
    fill(
      $('overview'),
      card('Equity', equity, unrealized.length ? `unrealized ${unrealized.join(', ')}` : null),
      card('Today', today, `${todayTrades} trade${todayTrades === 1 ? '' : 's'} closed`),
      card('Drawdown', drawdown, 'from the peak'),
      card(
        'Open positions',
        [el('div', { class: 'stat-value', id: 'overview-positions' }, String(data.positions ?? 0))],
        `${bots} bot${bots === 1 ? '' : 's'}${paused ? ` · ${paused} paused` : ''}`,
      ),
      card(
        'Kill switch',
        [el('div', { class: `stat-value ${kill.on ? 'neg' : 'pos'}` }, kill.on ? 'ON' : 'off')],
        killText,
        kill.on ? 'stat-alarm' : '',
      ),
    );
  }

  // --- positions: rows are kept by id and updated in place, so a button being pressed survives
  //     the price ticks that re-render the list.

  function positionCells(p) {
    const notional = Number(p.qty) * Number(p.avg_price);
    const upnl = Number(p.unrealized_pnl);
    const ratio = p.unrealized_pnl !== null && notional > 0 ? (upnl / notional) * 100 : null;
    const risk = [];
    if (p.sl) risk.push(`SL ${num(p.sl)}`);
    if (p.tp) risk.push(`TP ${num(p.tp)}`);
    if (p.trail) risk.push(`trail ${p.trail}`);
    return {
      main: [
        el('span', { class: 'symbol' }, p.symbol),
        el('span', { class: `side side-${p.side}` }, p.side),
        el('span', { class: 'muted bot-name' }, p.bot),
      ],
      size: [
        `${num(p.qty)} @ ${num(p.avg_price)}`,
        p.entries > 1 ? el('span', { class: 'muted' }, ` · ${p.entries} entries`) : null,
      ],
      last:
        p.last_price === null || p.last_price === undefined
          ? el('span', { class: 'muted' }, 'no price')
          : num(p.last_price),
      pnl:
        p.unrealized_pnl === null || p.unrealized_pnl === undefined
          ? el('span', { class: 'muted' }, '—')
          : el(
              'span',
              { class: `pnl ${signClass(p.unrealized_pnl)}`, dataset: { testid: 'unrealized' } },
              `${money(p.unrealized_pnl, { sign: true })} ${p.quote}`,
              ratio === null
                ? null
                : el('span', { class: 'pnl-pct' }, ` (${pct(ratio.toFixed(2), { sign: true })})`),
            ),
      risk: risk.length ? risk.join(' · ') : el('span', { class: 'muted' }, 'no SL / TP'),
      age: el('span', { title: fullFormat.format(new Date(p.opened_at)) }, age(p.opened_at)),
    };
  }

  function closeButton(p) {
    return el(
      'button',
      {
        type: 'button',
        class: 'btn btn-danger btn-small',
        testid: 'close-button',
        dataset: { id: p.id },
        on: { click: () => closePosition(p.id) },
      },
      'Close',
    );
  }

  function renderPositions(list) {
    state.positions = Array.isArray(list) ? list : [];
    const body = $('positions-body');
    const rows = new Map([...body.children].map((tr) => [tr.dataset.id, tr]));
    const canClose = Boolean(state.me && state.me.can && state.me.can.close);
    let previous = null;
    for (const p of state.positions) {
      const id = String(p.id);
      let tr = rows.get(id);
      if (tr) {
        rows.delete(id);
      } else {
        tr = el('tr', { testid: 'position-row', dataset: { id } });
        for (const name of ['main', 'size', 'last', 'pnl', 'risk', 'age', 'act']) {
          tr.append(el('td', { class: `c-${name}${name === 'last' || name === 'pnl' ? ' num' : ''}` }));
        }
      }
      const cells = positionCells(p);
      for (const [name, content] of Object.entries(cells)) fill(tr.querySelector(`.c-${name}`), content);
      const act = tr.querySelector('.c-act');
      let button = act.querySelector('button');
      if (canClose && !button) button = act.appendChild(closeButton(p));
      if (!canClose && button) button.remove();
      if (button) {
        const busy = state.closing.has(p.id);
        button.disabled = busy;
        button.textContent = busy ? 'Closing…' : 'Close';
        button.setAttribute('aria-label', `Close ${p.symbol} ${p.side} (${p.bot})`);
      }
      const anchor = previous ? previous.nextSibling : body.firstChild;
      if (tr !== anchor) body.insertBefore(tr, anchor);
      previous = tr;
    }
    for (const tr of rows.values()) tr.remove();
    const count = state.positions.length;
    $('positions-count').textContent = count ? String(count) : '';
    const byQuote = {};
    for (const p of state.positions) {
      if (p.unrealized_pnl === null || p.unrealized_pnl === undefined) continue;
      byQuote[p.quote] = (byQuote[p.quote] || 0) + Number(p.unrealized_pnl);
    }
    const totals = Object.entries(byQuote).map(([q, v]) => `${money(v.toFixed(8), { sign: true })} ${q}`);
    $('positions-total').textContent = totals.length ? `unrealized ${totals.join(', ')}` : '';
    $('positions-total').className =
      `hint ${totals.length === 1 ? signClass(Object.values(byQuote)[0]) : ''}`;
    show($('positions-empty'), count === 0);
    show(body.closest('.table-box'), count > 0);
    const overviewCount = $('overview-positions');
    if (overviewCount) overviewCount.textContent = String(count);
  }

  function renderTrades(list) {
    const trades = Array.isArray(list) ? list : [];
    fill(
      $('trades-body'),
      trades.map((t) =>
        el(
          'tr',
          { testid: 'trade-row', dataset: { id: t.id } },
          el('td', { class: 'c-time' }, when(t.closed_at)),
          el(
            'td',
            { class: 'c-main' },
            el('span', { class: 'symbol' }, t.symbol),
            el('span', { class: `side side-${t.side}` }, t.side),
            el('span', { class: 'muted bot-name' }, t.bot),
          ),
          el('td', { class: 'c-size' }, `${num(t.qty)} @ ${num(t.entry_price)} → ${num(t.exit_price)}`),
          el(
            'td',
            { class: 'c-pnl num' },
            el('span', { class: `pnl ${signClass(t.pnl)}` }, `${money(t.pnl, { sign: true })} ${t.quote}`),
            Number(t.fees) ? el('span', { class: 'muted fees' }, `fees ${money(t.fees)}`) : null,
          ),
          el('td', { class: 'c-reason' }, t.reason || ''),
        ),
      ),
    );
    show($('trades-empty'), trades.length === 0);
    show($('trades-body').closest('.table-box'), trades.length > 0);
  }

  function botButton(bot) {
    const paused = Boolean(bot.paused);
    return el(
      'button',
      {
        type: 'button',
        class: `btn btn-small ${paused ? 'btn-primary' : ''}`,
        testid: paused ? 'resume-button' : 'pause-button',
        dataset: { id: bot.id },
        disabled: state.botsBusy.has(bot.id),
        'aria-label': `${paused ? 'Resume' : 'Pause'} ${bot.name}`,
        on: { click: () => setPaused(bot, !paused) },
      },
      paused ? 'Resume' : 'Pause',
    );
  }

  function botRow(bot) {
    const canPause = Boolean(state.me && state.me.can && state.me.can.pause);
    const details = [bot.strategy, bot.direction, bot.interval].filter(Boolean).join(' · ');
    return el(
      'tr',
      { testid: 'bot-row', dataset: { id: bot.id, name: bot.name } },
      el(
        'td',
        { class: 'c-main' },
        el('span', { class: 'symbol' }, bot.name),
        el('span', { class: 'muted symbols' }, (bot.symbols || []).join(', ')),
      ),
      el(
        'td',
        { class: 'c-strategy' },
        details,
        bot.approval && bot.approval !== 'auto'
          ? el('span', { class: 'muted' }, ` · approval ${bot.approval}`)
          : null,
      ),
      el(
        'td',
        { class: 'c-state' },
        el(
          'span',
          { class: `badge ${bot.paused ? 'badge-warn' : 'badge-ok'}`, testid: 'bot-state' },
          bot.paused ? 'paused' : 'running',
        ),
      ),
      el('td', { class: 'c-act' }, canPause ? botButton(bot) : null),
    );
  }

  function renderBots(list) {
    const bots = Array.isArray(list) ? list : [];
    fill($('bots-body'), bots.map(botRow));
    show($('bots-empty'), bots.length === 0);
    show($('bots-body').closest('.table-box'), bots.length > 0);
  }

  const STATUS_CLASS = {
    executed: 'badge-ok',
    opened: 'badge-ok',
    closed: 'badge-ok',
    rejected: 'badge-bad',
    refused: 'badge-bad',
    failed: 'badge-bad',
    error: 'badge-bad',
    duplicate: 'badge-muted',
    ignored: 'badge-muted',
    pending: 'badge-warn',
    awaiting_approval: 'badge-warn',
  };

  function renderAlerts(list) {
    const alerts = Array.isArray(list) ? list : [];
    fill(
      $('alerts-body'),
      alerts.map((a) =>
        el(
          'tr',
          { testid: 'alert-row', dataset: { id: a.id, status: a.status } },
          el('td', { class: 'c-time' }, when(a.received_at)),
          el(
            'td',
            { class: 'c-main' },
            el('span', { class: 'symbol' }, [a.action, a.symbol].filter(Boolean).join(' ') || 'alert'),
            el('span', { class: 'muted bot-name' }, a.bot || ''),
          ),
          el(
            'td',
            { class: 'c-status' },
            el('span', { class: `badge ${STATUS_CLASS[a.status] || 'badge-muted'}` }, a.status || '?'),
            Number(a.repeats) > 1 ? el('span', { class: 'muted repeats' }, ` ×${a.repeats}`) : null,
          ),
          el('td', { class: 'c-reason' }, a.reason || ''),
        ),
      ),
    );
    show($('alerts-empty'), alerts.length === 0);
    show($('alerts-body').closest('.table-box'), alerts.length > 0);
  }

  // ------------------------------------------------------------------ actions

  function confirmAction(text, yesLabel) {
    if (
      inTelegram &&
      tg &&
      typeof tg.showConfirm === 'function' &&
      tg.isVersionAtLeast &&
      tg.isVersionAtLeast('6.2')
    ) {
      return new Promise((resolve) => {
        try {
          tg.showConfirm(text, (ok) => resolve(Boolean(ok)));
        } catch (_) {
          resolve(confirmInPage(text, yesLabel));
        }
      });
    }
    return confirmInPage(text, yesLabel);
  }

  function confirmInPage(text, yesLabel) {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = yesLabel;
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
      dialog.showModal();
      $('confirm-yes').focus();
    });
  }

  async function closePosition(id) {
    const p = state.positions.find((x) => x.id === id);
    if (!p || state.closing.has(id)) return;
    const at = p.last_price ? ` (last ${num(p.last_price)})` : '';
    const ok = await confirmAction(
      `Close ${p.symbol} ${p.side} ${num(p.qty)} · ${p.bot} at market${at}?`,
      'Close position',
    );
    if (!ok) return;
    state.closing.add(id);
    renderPositions(state.positions);
    try {
      const answer = await api(`/positions/${encodeURIComponent(id)}/close`, { method: 'POST' });
      toast((answer && answer.message) || 'Position closed.', 'ok');
      haptic('success');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        failed(err);
        return;
      }
      toast(err.message, 'error');
      haptic('error');
    } finally {
      state.closing.delete(id);
    }
    for (const topic of ['positions', 'trades', 'overview', 'equity']) refresh(topic);
  }

  async function setPaused(bot, pause) {
    if (state.botsBusy.has(bot.id)) return;
    state.botsBusy.add(bot.id);
    const row = document.querySelector(`#bots-body tr[data-id="${CSS.escape(String(bot.id))}"]`);
    const button = row && row.querySelector('button');
    if (button) button.disabled = true;
    try {
      const answer = await api(`/bots/${encodeURIComponent(bot.id)}/${pause ? 'pause' : 'resume'}`, {
        method: 'POST',
      });
      const updated = (answer && answer.bot) || { ...bot, paused: pause };
      if (row && row.isConnected) row.replaceWith(botRow({ ...bot, ...updated }));
      toast(`${updated.name || bot.name} ${updated.paused ? 'paused' : 'resumed'}.`, 'ok');
    } catch (err) {
      failed(err);
    } finally {
      state.botsBusy.delete(bot.id);
    }
    refresh('bots');
    refresh('overview');
  }

  function haptic(kind) {
    try {
      if (inTelegram && tg && tg.HapticFeedback && tg.isVersionAtLeast('6.1'))
        tg.HapticFeedback.notificationOccurred(kind);
    } catch (_) {
      /* not supported here */
    }
  }

  let toastTimer = 0;
  function toast(message, kind) {
    const box = $('toast');
    box.textContent = message;
    box.className = `toast toast-${kind || 'info'}`;
    show(box, true);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => show(box, false), TOAST_MS);
  }

  // ------------------------------------------------------------------ live updates (SSE over fetch)

  /** Server-sent events parser (the WHATWG rules: `event:`/`data:`/`retry:` fields, `:` comments,
   *  CR, LF or CRLF line ends, a blank line dispatches). Fed text in chunks of any size. */
  class SseParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buffer = '';
      this.event = '';
      this.data = [];
      this.retry = null;
    }

    push(text) {
      this.buffer += text;
      const lineEnd = /\r\n|\r|\n/g;
      let start = 0;
      let match;
      while ((match = lineEnd.exec(this.buffer)) !== null) {
        // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
        this.line(this.buffer.slice(start, match.index));
        start = lineEnd.lastIndex;
      }
      this.buffer = this.buffer.slice(start);
    }

    line(line) {
      if (line === '') {
        const data = this.data.join('\n');
        const type = this.event || 'message';
        this.event = '';
        this.data = [];
        if (data !== '' || type !== 'message') this.onEvent(type, data);
        return;
      }
      if (line.startsWith(':')) return; // a comment: the server's keep-alive ping
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
      else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    }
  }

  function setLive(status) {
    const badge = document.querySelector('[data-testid="live-status"]');
    badge.textContent = status;
    badge.dataset.state = status;
  }

  let wake = null; // resolves the back-off wait early (the browser came back online)

  function sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  function stopStream() {
    if (state.stream) state.stream.abort();
    state.stream = null;
    if (wake) wake();
  }

  async function startStream() {
    stopStream();
    const run = new AbortController();
    state.stream = run;
    let delay = RETRY_MIN_MS;
    let connectedBefore = false;
    setLive('connecting');
    while (!run.signal.aborted) {
      const attempt = new AbortController();
      const abortAttempt = () => attempt.abort();
      run.signal.addEventListener('abort', abortAttempt, { once: true });
      let idle = 0;
      const alive = () => {
        clearTimeout(idle);
        idle = setTimeout(abortAttempt, STREAM_IDLE_MS);
      };
      const parser = new SseParser((type, data) => {
        delay = RETRY_MIN_MS; // a working connection: the next failure retries quickly again
        streamEvent(type, data);
      });
      try {
        alive();
        const response = await fetch(`${API}/stream`, {
          headers: { Accept: 'text/event-stream', ...authHeaders('GET') },
          credentials: 'same-origin',
          cache: 'no-store',
          signal: attempt.signal,
        });
        if (response.status === 401) {
          clearTimeout(idle);
          signedOut('');
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        setLive('live');
        if (connectedBefore) {
          // Events may have been missed while away: catch up (positions come with the stream).
          for (const topic of TOPICS) if (topic !== 'positions') refresh(topic);
        }
        connectedBefore = true;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          alive();
          parser.push(decoder.decode(value, { stream: true }));
        }
      } catch (_) {
        /* dropped, refused or idle: reconnect below */
      } finally {
        clearTimeout(idle);
        run.signal.removeEventListener('abort', abortAttempt);
      }
      if (run.signal.aborted) return;
      setLive('reconnecting');
      const base = parser.retry !== null ? Math.max(parser.retry, delay) : delay;
      await sleep(base * (0.8 + Math.random() * 0.4));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  function streamEvent(type, data) {
    let payload;
    try {
      payload = data ? JSON.parse(data) : null;
    } catch (_) {
      return; // not ours to understand
    }
    if (type === 'positions') {
      renderPositions(payload);
    } else if (type === 'changed') {
      const topics = payload && Array.isArray(payload.topics) ? payload.topics : TOPICS;
      for (const topic of topics) refresh(topic);
    }
  }

  // ------------------------------------------------------------------ equity chart

  const chart = { api: null, equity: null, drawdown: null };

  function color(name) {
    const probe =
      color.probe ||
      (color.probe = document.body.appendChild(el('span', { class: 'color-probe', 'aria-hidden': 'true' })));
    probe.style.color = `var(${name})`;
    return getComputedStyle(probe).color;
  }

  function withAlpha(rgb, alpha) {
    const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(rgb);
    return m ? `rgba(${m[1]}, ${m[2]}, ${m[3]}, ${alpha})` : rgb;
  }

  function chartTheme() {
    const text = color('--hint');
    const line = color('--line');
    const neg = color('--neg');
    return {
      chart: {
        layout: {
          background: { type: 'solid', color: color('--card') },
          textColor: text,
          panes: { separatorColor: line, separatorHoverColor: withAlpha(line, 0.4) },
        },
        grid: { vertLines: { color: withAlpha(line, 0.6) }, horzLines: { color: withAlpha(line, 0.6) } },
        crosshair: { vertLine: { labelBackgroundColor: text }, horzLine: { labelBackgroundColor: text } },
      },
      equity: { color: color('--accent') },
      drawdown: {
        bottomLineColor: neg,
        bottomFillColor1: withAlpha(neg, 0.35),
        bottomFillColor2: withAlpha(neg, 0.08),
        topLineColor: neg,
        topFillColor1: 'rgba(0, 0, 0, 0)',
        topFillColor2: 'rgba(0, 0, 0, 0)',
      },
    };
  }

  function applyChartTheme() {
    if (!chart.api) return;
    const theme = chartTheme();
    chart.api.applyOptions(theme.chart);
    chart.equity.applyOptions(theme.equity);
    chart.drawdown.applyOptions(theme.drawdown);
  }

  function tickMark(time, type) {
    const date = new Date(time * 1000);
    switch (type) {
      case 0:
        return String(date.getFullYear());
      case 1:
        return date.toLocaleDateString(undefined, { month: 'short' });
      case 2:
        return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
      default:
        return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    }
  }

  function setupChart() {
    const LC = window.LightweightCharts;
    const host = $('chart');
    if (chart.api) return;
    if (!LC) {
      $('chart-empty').textContent = 'The chart could not be loaded.';
      show($('chart-empty'), true);
      show(host, false);
      return;
    }
    const theme = chartTheme();
    chart.api = LC.createChart(host, {
      autoSize: true,
      layout: {
        ...theme.chart.layout,
        fontFamily: getComputedStyle(document.body).fontFamily,
        fontSize: 11,
        // attributionLogo stays at its default (true), as the library's licence notice asks.
      },
      grid: theme.chart.grid,
      crosshair: theme.chart.crosshair,
      rightPriceScale: { borderVisible: false },
      timeScale: {
        borderVisible: false,
        timeVisible: true,
        secondsVisible: false,
        tickMarkFormatter: tickMark,
      },
      localization: { timeFormatter: (time) => timeFormat.format(new Date(time * 1000)) },
      // Let a finger or a wheel scroll the page over the chart; drag and pinch still work.
      handleScroll: { mouseWheel: false, vertTouchDrag: false },
      handleScale: { mouseWheel: false },
    });
    chart.equity = chart.api.addSeries(
      LC.LineSeries,
      { ...theme.equity, lineWidth: 2, priceLineVisible: false, title: '' },
      0,
    );
    chart.drawdown = chart.api.addSeries(
      LC.BaselineSeries,
      {
        ...theme.drawdown,
        baseValue: { type: 'price', price: 0 },
        lineWidth: 1,
        priceLineVisible: false,
        priceFormat: {
          type: 'custom',
          minMove: 0.01,
          formatter: (v) => pct(Math.abs(v) < 0.005 ? '0' : (-Math.abs(v)).toFixed(2)),
        },
        // Keep 0 (no drawdown) at the top of the lower pane.
        autoscaleInfoProvider: (original) => {
          const info = original();
          if (info && info.priceRange) info.priceRange.maxValue = 0;
          return info;
        },
      },
      1,
    );
    const panes = chart.api.panes();
    if (panes[1] && typeof panes[1].setStretchFactor === 'function') {
      panes[0].setStretchFactor(3);
      panes[1].setStretchFactor(1);
    }
  }

  function precisionFor(values) {
    const top = Math.max(...values.map((v) => Math.abs(v)), 0);
    if (top >= 100) return 2;
    if (top >= 1) return 4;
    return 8;
  }

  function renderEquity(list) {
    state.equity = Array.isArray(list) ? list.filter((c) => c && c.quote) : [];
    const quotes = state.equity.map((c) => c.quote);
    if (!quotes.includes(state.quote)) state.quote = quotes[0] || null;
    fill(
      $('quote-tabs'),
      quotes.length > 1
        ? quotes.map((q) =>
            el(
              'button',
              {
                type: 'button',
                class: 'tab',
                'aria-pressed': q === state.quote ? 'true' : 'false',
                on: {
                  click: () => {
                    state.quote = q;
                    renderEquity(state.equity);
                  },
                },
              },
              q,
            ),
          )
        : [],
    );
    const curve = state.equity.find((c) => c.quote === state.quote);
    // One point per second at most, in time order (the chart requires it).
    const byTime = new Map();
    for (const p of (curve && curve.points) || []) {
      const time = Math.floor(Number(p.time));
      if (Number.isFinite(time) && Number.isFinite(Number(p.equity))) byTime.set(time, p);
    }
    const points = [...byTime.entries()].sort((a, b) => a[0] - b[0]);
    const empty = points.length === 0;
    show($('chart-empty'), empty || !chart.api);
    if (!chart.api) return;
    show($('chart'), !empty);
    const legendNow = $('chart-now');
    if (empty) {
      chart.equity.setData([]);
      chart.drawdown.setData([]);
      legendNow.textContent = '';
      return;
    }
    const equity = points.map(([time, p]) => ({ time, value: Number(p.equity) }));
    const drawdown = points.map(([time, p]) => ({ time, value: -Math.abs(Number(p.drawdown) || 0) }));
    const precision = precisionFor(equity.map((p) => p.value));
    const lonely = points.length < 2; // one point draws no line: show it as a dot
    chart.equity.applyOptions({
      pointMarkersVisible: lonely,
      lineVisible: !lonely,
      priceFormat: { type: 'custom', minMove: 10 ** -precision, formatter: (v) => num(v.toFixed(precision)) },
    });
    chart.drawdown.applyOptions({ pointMarkersVisible: lonely, lineVisible: !lonely });
    chart.equity.setData(equity);
    chart.drawdown.setData(drawdown);
    chart.api.timeScale().fitContent();
    const last = points[points.length - 1][1];
    legendNow.textContent = `now ${money(last.equity)} ${curve.quote} · drawdown ${pct(last.drawdown)}`;
  }

  // ------------------------------------------------------------------ theme

  function applyTelegramTheme() {
    const root = document.documentElement;
    if (!inTelegram) {
      delete root.dataset.scheme;
      return;
    }
    root.classList.add('tg');
    if (tg && tg.colorScheme) {
      root.dataset.scheme = tg.colorScheme;
      return;
    }
    // No Telegram script: take the theme from the launch parameters ourselves.
    try {
      const params = JSON.parse(hash.get('tgWebAppThemeParams') || '{}');
      for (const [key, value] of Object.entries(params)) {
        if (/^[a-z_]+$/.test(key) && /^#[0-9a-f]{3,8}$/i.test(String(value))) {
          root.style.setProperty(`--tg-theme-${key.replace(/_/g, '-')}`, value);
        }
      }
      const bg = params.bg_color && /^#([0-9a-f]{6})$/i.exec(params.bg_color);
      if (bg) {
        const n = parseInt(bg[1], 16);
        const luma = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
        root.dataset.scheme = luma < 128 ? 'dark' : 'light';
      }
    } catch (_) {
      /* no usable theme: keep the browser's */
    }
  }

  function setupTheme() {
    applyTelegramTheme();
    const retheme = () => {
      applyTelegramTheme();
      applyChartTheme();
    };
    if (inTelegram && tg) {
      tg.onEvent('themeChanged', retheme);
      try {
        tg.ready();
        tg.expand();
      } catch (_) {
        /* an old client */
      }
    }
    const media = window.matchMedia('(prefers-color-scheme: dark)');
    if (media.addEventListener) media.addEventListener('change', retheme);
    else if (media.addListener) media.addListener(retheme);
  }

  // ------------------------------------------------------------------ wiring

  function wire() {
    $('sign-out').addEventListener('click', signOut);
    window.addEventListener('online', () => {
      if (wake) wake();
    });
  }

  boot().catch(() => {
    /* shown in the page by fetchMe */
  });
})();
