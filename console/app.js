// rabta caseworker console. Plain ES5 and XMLHttpRequest so that it runs on old Android browsers;
// no framework, no inline script (the page is served with Content-Security-Policy default-src
// 'self'). Every value from the server is put on the page with textContent, never as HTML.
(function () {
  'use strict';

  var TOKEN_KEY = 'rabta.token';
  var POLL_MS = 5000;
  var REQUEST_TIMEOUT_MS = 20000;
  var MAX_PAGES = 5;
  var SEVERITY_RANK = { critical: 0, high: 1, normal: 2, low: 3 };
  var CATEGORY_LABELS = {
    physical_violence: 'Physical violence',
    threats: 'Threats',
    harassment: 'Harassment',
    forced_marriage: 'Forced marriage',
    other: 'Other',
    interrupted_report: 'Report interrupted',
    checkin_help_now: 'Check-in: needs help now',
    checkin_talk: 'Check-in: would like to talk',
    missed_checkin: 'Missed check-in'
  };
  var STATUS_LABELS = {
    open: 'Open',
    acknowledged: 'Acknowledged',
    claimed: 'Claimed',
    closed: 'Closed'
  };
  var ANSWER_LABELS = {
    category: 'What happened',
    when: 'When',
    safe_now: 'Safe now',
    safe_to_call: 'Safe to call her',
    call_time: 'Best time to call',
    district: 'District',
    referral: 'May share with',
    wellbeing: 'This week'
  };
  var CONSENT_LABELS = {
    callback: 'Call her back',
    referral_ngo: 'Share with an NGO',
    referral_police: 'Share with the police',
    sms: 'Text messages'
  };
  var LANGUAGE_LABELS = { ur: 'Urdu', roman: 'Roman Urdu', en: 'English' };
  var CHANNEL_LABELS = { ussd: 'USSD (dialled in)', sms: 'Text message' };
  var VALUE_LABELS = { ngo: 'NGO', help_now: 'Needs help now', talk: 'Would like to talk' };
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov',
    'Dec'];

  var state = {
    token: null,
    me: null,
    cases: [],
    current: null,       // the case shown in detail
    wanted: null,        // the reference being opened or shown
    view: 'signin',
    queueView: 'team',   // mine, unassigned, team, closed
    search: {},          // the search form's filters, as API parameters
    queueGeneration: 0,
    timelineAt: 0,
    timelineStale: false,
    inFlight: false,
    poller: null,
    ticker: null
  };
  var memoryToken = null;

  function $(id) { return document.getElementById(id); }

  // --- Small helpers

  function words(code) {
    if (!code) return '';
    var s = String(code).replace(/_/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }
  function label(table, code) {
    return Object.prototype.hasOwnProperty.call(table, code) ? table[code] : words(code);
  }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function formatTime(ms) {
    if (!ms) return '';
    var d = new Date(ms);
    return d.getDate() + ' ' + MONTHS[d.getMonth()] + ' ' + pad(d.getHours()) + ':' +
      pad(d.getMinutes());
  }
  function formatDuration(ms) {
    var total = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    return (h > 0 ? h + ':' + pad(m) : String(m)) + ':' + pad(s);
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function element(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function option(value, text) {
    var o = element('option', null, text);
    o.value = value;
    return o;
  }
  function pair(list, name, value) {
    list.appendChild(element('dt', null, name));
    list.appendChild(element('dd', null, value));
  }
  function show(view) {
    state.view = view;
    $('signin').hidden = view !== 'signin';
    $('queue').hidden = view !== 'queue';
    $('detail').hidden = view !== 'detail';
    $('signout').hidden = view === 'signin';
  }

  // The token lives in sessionStorage only (never localStorage): it is gone when the tab closes.
  function loadToken() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || memoryToken; } catch (e) { return memoryToken; }
  }
  function saveToken(token) {
    memoryToken = token;
    try {
      if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* private mode: the token stays in memory only */ }
  }

  // --- The API

  // done(status, data): status 0 = no answer (offline, timed out).
  function api(method, path, body, done, signingIn) {
    var xhr = new XMLHttpRequest();
    var finished = false;
    function finish(status) {
      if (finished) return;
      finished = true;
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (status === 401 && !signingIn) {
        signOut(expired(data) ? EXPIRED_TEXT : 'You have been signed out. Please sign in again.');
        return;
      }
      done(status, data);
    }
    xhr.open(method, '/api/v1/' + path, true);
    xhr.timeout = REQUEST_TIMEOUT_MS;
    xhr.setRequestHeader('Authorization', 'Bearer ' + state.token);
    xhr.setRequestHeader('Accept', 'application/json');
    if (body !== null) xhr.setRequestHeader('Content-Type', 'application/json');
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) finish(xhr.status);
    };
    xhr.ontimeout = function () { finish(0); };
    xhr.send(body === null ? null : JSON.stringify(body));
  }

  var EXPIRED_TEXT = 'Your token has expired. Ask your administrator for a new one.';

  function expired(data) {
    return !!(data && data.error === 'token_expired');
  }

  function errorText(status, data) {
    if (status === 0) return 'Cannot reach the server. Check the connection and try again.';
    if (status === 404) return 'This case is not available to you.';
    if (status === 403) return 'You are not allowed to do this.';
    if (status === 503) return 'The server is busy. Try again in a moment.';
    if (data && data.reason) return data.reason;
    return 'Something went wrong (error ' + status + ').';
  }

  // --- Signing in and out

  function signIn(token) {
    state.token = token;
    $('signin-button').disabled = true;
    $('signin-error').textContent = '';
    api('GET', 'me', null, function (status, data) {
      $('signin-button').disabled = false;
      if (status === 200 && data) {
        saveToken(token);
        $('token').value = '';
        start(data);
      } else {
        state.token = null;
        saveToken(null);
        $('signin-error').textContent = status === 401 ?
          (expired(data) ? EXPIRED_TEXT : 'That token was not accepted.') :
          errorText(status, data);
        show('signin');
      }
    }, true);
  }

  function start(me) {
    state.me = me;
    $('who').textContent = me.name + (me.team ? ' \u00b7 ' + words(me.team) : '');
    var select = $('outcome');
    clear(select);
    var approval = me.outcomes_needing_approval || [];
    for (var i = 0; i < me.outcomes.length; i++) {
      var needs = approval.indexOf(me.outcomes[i]) >= 0 && me.role !== 'supervisor';
      select.appendChild(option(me.outcomes[i], words(me.outcomes[i]) +
        (needs ? ' (needs approval)' : '')));
    }
    var category = $('s-category');
    clear(category);
    category.appendChild(option('', 'Any'));
    for (var code in CATEGORY_LABELS)
      if (Object.prototype.hasOwnProperty.call(CATEGORY_LABELS, code))
        category.appendChild(option(code, CATEGORY_LABELS[code]));
    var assignee = $('s-assignee');
    clear(assignee);
    assignee.appendChild(option('', 'Anyone'));
    assignee.appendChild(option('none', 'Nobody'));
    var teams = [];
    var people = me.people || [];
    for (var p = 0; p < people.length; p++) {
      assignee.appendChild(option(people[p].name, people[p].name));
      if (teams.indexOf(people[p].team) < 0) teams.push(people[p].team);
    }
    var team = $('s-team');
    clear(team);
    team.appendChild(option('', 'Every team'));
    teams.sort();
    for (var t = 0; t < teams.length; t++) team.appendChild(option(teams[t], words(teams[t])));
    $('s-team-field').hidden = me.role !== 'supervisor';
    markTab();
    if (!state.poller) state.poller = window.setInterval(poll, POLL_MS);
    if (!state.ticker) state.ticker = window.setInterval(tick, 1000);
    route();
  }

  function signOut(message) {
    state.token = null;
    state.me = null;
    state.cases = [];
    state.current = null;
    saveToken(null);
    if (state.poller) window.clearInterval(state.poller);
    if (state.ticker) window.clearInterval(state.ticker);
    state.poller = null;
    state.ticker = null;
    clear($('cases'));
    $('who').textContent = '';
    $('signin-error').textContent = message || '';
    if (window.location.hash) window.location.hash = '';
    show('signin');
    $('token').focus();
  }

  // --- The queue

  function rank(severity) {
    return Object.prototype.hasOwnProperty.call(SEVERITY_RANK, severity) ? SEVERITY_RANK[severity] : 9;
  }
  function byPriority(a, b) {
    var r = rank(a.severity) - rank(b.severity);
    if (r !== 0) return r;
    if (a.created_at !== b.created_at) return a.created_at - b.created_at;
    return a.reference < b.reference ? -1 : 1;
  }

  // Deadlines are kept as local times (the server's clock offset applied), so the countdowns
  // move between polls. The acknowledgement deadline counts from her report and does not move
  // when the ladder climbs; past it the case is overdue. The next alert is the current rung's.
  function localTime(serverMs, serverNow, receivedAt) {
    return receivedAt + (serverMs - serverNow);
  }
  function slaElement(c, serverNow, receivedAt) {
    var e = element('span', 'sla');
    if (c.status !== 'open') {
      e.hidden = true;
      return e;
    }
    if (c.ack_due_at) {
      e.setAttribute('data-due', String(localTime(c.ack_due_at, serverNow, receivedAt)));
    } else if (c.sla_remaining_ms !== null && c.sla_remaining_ms !== undefined) {
      e.setAttribute('data-due', String(receivedAt + c.sla_remaining_ms));
    } else {
      e.hidden = true;
      return e;
    }
    updateSla(e, Date.now());
    return e;
  }
  function nextAlertElement(c, receivedAt) {
    var e = element('span', 'next-alert');
    if (c.status !== 'open' || c.sla_remaining_ms === null || c.sla_remaining_ms === undefined ||
        !c.ack_due_at) {
      e.hidden = true;
      return e;
    }
    e.setAttribute('data-next', String(receivedAt + c.sla_remaining_ms));
    e.setAttribute('data-rung', String(c.rung || 0));
    updateSla(e, Date.now());
    return e;
  }
  function updateSla(e, now) {
    var due = Number(e.getAttribute('data-due'));
    if (due) {
      var left = due - now;
      e.textContent = left >= 0 ? 'Acknowledge within ' + formatDuration(left) :
        'Overdue by ' + formatDuration(left);
      e.className = left >= 0 ? 'sla' : 'sla overdue';
      return;
    }
    var next = Number(e.getAttribute('data-next'));
    if (next) {
      var rung = Number(e.getAttribute('data-rung')) || 1;
      e.textContent = next - now >= 0 ?
        'Alert ' + rung + ' sent; next alert in ' + formatDuration(next - now) :
        'Alert ' + rung + ' sent; next alert due now';
    }
  }
  function tick() {
    var now = Date.now();
    var nodes = document.querySelectorAll('[data-due], [data-next]');
    for (var i = 0; i < nodes.length; i++) updateSla(nodes[i], now);
  }

  function loadQueue(done) {
    var collected = [];
    var receivedAt = Date.now();
    function page(after, pages) {
      var path = 'cases?view=' + state.queueView + '&limit=200' + searchQuery() +
        (after ? '&after=' + after : '');
      api('GET', path, null, function (status, data) {
        if (status !== 200 || !data) return done(status, data);
        receivedAt = Date.now();
        for (var i = 0; i < data.cases.length; i++) collected.push(data.cases[i]);
        if (data.next_after && pages + 1 < MAX_PAGES) return page(data.next_after, pages + 1);
        done(200, { cases: collected, receivedAt: receivedAt, now: data.now });
      });
    }
    page(0, 0);
  }

  function searchQuery() {
    var q = '';
    for (var name in state.search)
      if (Object.prototype.hasOwnProperty.call(state.search, name) && state.search[name] !== '')
        q += '&' + name + '=' + encodeURIComponent(state.search[name]);
    return q;
  }
  function markTab() {
    var tabs = document.querySelectorAll('.tab');
    for (var i = 0; i < tabs.length; i++) {
      var on = tabs[i].getAttribute('data-view') === state.queueView;
      tabs[i].className = on ? 'tab current' : 'tab';
      tabs[i].setAttribute('aria-pressed', on ? 'true' : 'false');
    }
  }
  // A date input's day, at local midnight, in milliseconds; the day after for "until".
  function dayStart(value, after) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
    if (!m) return '';
    return String(new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (after ? 1 : 0)).getTime());
  }
  function readSearch() {
    state.search = {
      reference: $('s-reference').value.replace(/[^A-Za-z0-9]/g, '').toUpperCase(),
      severity: $('s-severity').value,
      category: $('s-category').value,
      assignee: $('s-assignee').value,
      team: state.me && state.me.role === 'supervisor' ? $('s-team').value : '',
      district: $('s-district').value.replace(/^\s+|\s+$/g, '').toLowerCase(),
      from: dayStart($('s-from').value, false),
      to: dayStart($('s-to').value, true),
      overdue: $('s-overdue').checked ? '1' : ''
    };
  }
  function searching() {
    for (var name in state.search)
      if (Object.prototype.hasOwnProperty.call(state.search, name) && state.search[name] !== '')
        return true;
    return false;
  }

  function renderQueue(cases, receivedAt, serverNow) {
    if (state.queueView === 'closed')
      cases.sort(function (a, b) { return (b.closed_at || 0) - (a.closed_at || 0); });
    else
      cases.sort(byPriority);
    state.cases = cases;
    var list = $('cases');
    clear(list);
    for (var i = 0; i < cases.length; i++) {
      var c = cases[i];
      var item = element('li', 'case sev-' + c.severity);
      item.setAttribute('data-ref', c.reference);
      var link = element('a', 'case-link');
      link.href = '#case/' + c.reference;
      var top = element('span', 'case-top');
      top.appendChild(element('span', 'ref', c.reference));
      top.appendChild(element('span', 'badge sev-' + c.severity, words(c.severity)));
      top.appendChild(element('span', 'case-status status-' + c.status, label(STATUS_LABELS, c.status)));
      if (c.pending_outcome) top.appendChild(element('span', 'pending', 'Awaiting approval'));
      link.appendChild(top);
      link.appendChild(slaElement(c, serverNow, receivedAt));
      var meta = label(CATEGORY_LABELS, c.category) + ' \u00b7 ' + formatTime(c.created_at);
      if (c.assignee) meta += ' \u00b7 ' + (state.me && c.claimed_by === state.me.id ?
        'yours' : c.assignee);
      if (state.me && state.me.role === 'supervisor' && c.team) meta += ' \u00b7 ' + words(c.team);
      link.appendChild(element('span', 'meta', meta));
      item.appendChild(link);
      list.appendChild(item);
    }
    $('queue-empty').hidden = cases.length !== 0;
  }

  // `fresh`: the view or search changed; an answer to an earlier request is then dropped.
  function refreshQueue(fresh) {
    if (state.inFlight && !fresh) return;
    var generation = ++state.queueGeneration;
    state.inFlight = true;
    if (!state.cases.length) $('queue-status').textContent = 'Loading\u2026';
    loadQueue(function (status, data) {
      if (generation !== state.queueGeneration) return;
      state.inFlight = false;
      if (status !== 200) {
        $('queue-status').textContent = errorText(status, data) + ' Retrying.';
        return;
      }
      renderQueue(data.cases, data.receivedAt, data.now);
      var now = new Date();
      $('queue-status').textContent = data.cases.length + (data.cases.length === 1 ? ' case' : ' cases') +
        (searching() ? ' found' : '') + ' \u00b7 updated ' + pad(now.getHours()) + ':' +
        pad(now.getMinutes()) + ':' + pad(now.getSeconds());
    });
  }

  // --- One case

  function renderDetail(d, receivedAt) {
    state.current = d;
    state.receivedAt = receivedAt;
    $('d-ref').textContent = d.reference;
    var sev = $('d-severity');
    sev.textContent = words(d.severity);
    sev.className = 'badge sev-' + d.severity;
    var st = $('d-status');
    st.textContent = label(STATUS_LABELS, d.status);
    st.className = 'case-status status-' + d.status;
    var oldSla = $('d-sla');
    var sla = slaElement(d, d.now, receivedAt);
    sla.id = 'd-sla';
    oldSla.parentNode.replaceChild(sla, oldSla);
    var oldNext = $('d-next');
    var next = nextAlertElement(d, receivedAt);
    next.id = 'd-next';
    oldNext.parentNode.replaceChild(next, oldNext);

    var facts = $('d-facts');
    clear(facts);
    pair(facts, 'Type', label(CATEGORY_LABELS, d.category));
    pair(facts, 'Received', formatTime(d.created_at));
    if (d.team) pair(facts, 'Team', words(d.team));
    if (d.acknowledged_at) pair(facts, 'Acknowledged', formatTime(d.acknowledged_at) +
      (state.me && d.acknowledged_by === state.me.id ? ' by you' : ''));
    if (d.assignee) pair(facts, 'Assigned to', state.me && d.claimed_by === state.me.id ?
      'You' : d.assignee);
    if (d.ack_due_at) pair(facts, 'Acknowledge by', formatTime(d.ack_due_at));
    if (d.closed_at) pair(facts, 'Closed', formatTime(d.closed_at) + ' \u00b7 ' + words(d.outcome));

    // Whether and when it is safe to call her, in large type next to the number.
    var safe = $('d-safe');
    clear(safe);
    var safeToCall = '', callTime = '';
    for (var s = 0; s < d.answers.length; s++) {
      if (d.answers[s].key === 'safe_to_call') safeToCall = d.answers[s].value;
      if (d.answers[s].key === 'call_time') callTime = d.answers[s].value;
    }
    if (safeToCall || callTime) {
      var safeText = safeToCall === 'no' ? 'Not safe to call' : safeToCall === 'yes' ?
        'Safe to call' : '';
      if (callTime) safeText += (safeText ? ' \u00b7 ' : 'Call ') + words(callTime);
      safe.appendChild(element('span', safeToCall === 'no' ? 'unsafe' : 'safe', safeText));
    }
    safe.hidden = !(safeToCall || callTime);

    var context = $('d-context');
    clear(context);
    var ctx = d.context || {};
    pair(context, 'Language', label(LANGUAGE_LABELS, ctx.language) || 'Not chosen');
    if (ctx.channel) pair(context, 'Came by', label(CHANNEL_LABELS, ctx.channel.split(':')[0]));
    if (ctx.district) pair(context, 'District', words(ctx.district));
    var earlier = ctx.earlier_cases || [];
    if (earlier.length || ctx.earlier_cases_elsewhere) {
      context.appendChild(element('dt', null, 'Earlier cases'));
      var dd = element('dd');
      for (var k = 0; k < earlier.length; k++) {
        var link = element('a', 'ref-link', earlier[k].reference);
        link.href = '#case/' + earlier[k].reference;
        var line = element('span', 'earlier');
        line.appendChild(link);
        line.appendChild(document.createTextNode(' ' + formatTime(earlier[k].created_at) + ' \u00b7 ' +
          (earlier[k].outcome ? words(earlier[k].outcome) : label(STATUS_LABELS, earlier[k].status))));
        dd.appendChild(line);
      }
      if (ctx.earlier_cases_elsewhere)
        dd.appendChild(element('span', 'earlier hint', ctx.earlier_cases_elsewhere +
          (ctx.earlier_cases_elsewhere === 1 ? ' more with another team' : ' more with other teams')));
      context.appendChild(dd);
    } else {
      pair(context, 'Earlier cases', 'None');
    }

    var phone = $('d-phone');
    clear(phone);
    if (d.phone) {
      var call = element('a', 'phone', d.phone);
      call.href = 'tel:' + d.phone;
      phone.appendChild(call);
    } else {
      var callback = d.consents ? d.consents.callback : undefined;
      phone.appendChild(element('span', 'hint', callback === true ?
        'She agreed to a call, but her number is not available.' : callback === false ?
        'Not shown: she has not agreed to be called.' : 'Not shown: she was not asked about a call.'));
    }

    var answers = $('d-answers');
    clear(answers);
    for (var i = 0; i < d.answers.length; i++)
      pair(answers, label(ANSWER_LABELS, d.answers[i].key), label(VALUE_LABELS, d.answers[i].value));
    if (!d.answers.length) answers.appendChild(element('dd', 'hint', 'No answers recorded.'));

    var consents = $('d-consents');
    clear(consents);
    var any = false;
    for (var purpose in d.consents) {
      if (!Object.prototype.hasOwnProperty.call(d.consents, purpose)) continue;
      any = true;
      pair(consents, label(CONSENT_LABELS, purpose), d.consents[purpose] ? 'Yes' : 'No');
    }
    if (!any) consents.appendChild(element('dd', 'hint', 'Not asked.'));

    // Referral: only to a partner whose kind she agreed to in this report.
    var referrals = d.referrals || [];
    $('refer-box').hidden = referrals.length === 0;
    var rlist = $('d-referrals');
    clear(rlist);
    var to = $('refer-to');
    var wanted = to.value;
    clear(to);
    for (var r = 0; r < referrals.length; r++) {
      var ref = referrals[r];
      rlist.appendChild(element('li', ref.referred ? 'referred' : (ref.consented ? '' : 'hint'),
        ref.label + ': ' + (ref.referred ? 'referred' : ref.consented ?
          'she agreed to this referral' : 'she has not agreed to this kind of referral')));
      if (ref.consented && !ref.referred) to.appendChild(option(ref.partner, ref.label));
    }
    if (wanted) to.value = wanted;
    $('refer-form').hidden = d.status === 'closed' || to.options.length === 0;

    var notes = $('d-notes');
    clear(notes);
    for (var n = 0; n < d.notes.length; n++) {
      var note = element('li', 'note');
      note.appendChild(element('span', 'meta', (d.notes[n].author || 'Someone') + ' \u00b7 ' +
        formatTime(d.notes[n].created_at)));
      note.appendChild(element('p', 'note-text', d.notes[n].text));
      notes.appendChild(note);
    }
    if (!d.notes.length) notes.appendChild(element('li', 'hint', 'No notes yet.'));

    var closed = d.status === 'closed';
    var supervisor = state.me && state.me.role === 'supervisor';
    $('ack').disabled = d.status !== 'open';
    $('claim').disabled = closed || (state.me && d.claimed_by === state.me.id);
    // A closing that waits: a supervisor approves or declines; anyone else sees that it waits.
    $('approval').hidden = !d.pending_outcome;
    if (d.pending_outcome) {
      $('approval-text').textContent = 'Closing as "' + words(d.pending_outcome) + '" awaits a ' +
        'supervisor\'s approval' + (d.pending_by ? ' (asked by ' + d.pending_by + ').' : '.');
      $('approval-actions').hidden = !supervisor;
    }
    $('close-form').hidden = closed || (!!d.pending_outcome && !supervisor);
    $('reopen-form').hidden = !closed || !supervisor;
    $('assign-form').hidden = closed;
    var to = $('assign-to');
    var chosen = to.value;
    clear(to);
    var people = (state.me && state.me.people) || [];
    for (var p = 0; p < people.length; p++) {
      if (people[p].team !== d.team && people[p].role !== 'supervisor') continue;
      to.appendChild(option(people[p].name, people[p].name +
        (people[p].role === 'supervisor' ? ' (supervisor)' : '')));
    }
    if (chosen) to.value = chosen;
    if (!to.value && d.assignee) to.value = d.assignee;
  }

  var EVENT_TEXT = {
    opened: 'Reported',
    routed: 'Sent to team',
    alerted: 'Alert',
    alert_sent: 'Alert sent',
    alert_failed: 'Alert failing, next person alerted',
    moved: 'Moved to the always-on team',
    acknowledged: 'Acknowledged',
    claimed: 'Claimed',
    assigned: 'Assigned',
    note: 'Note',
    closing_requested: 'Closing asked for',
    closed: 'Closed',
    approved: 'Closing approved',
    declined: 'Closing declined',
    reopened: 'Reopened',
    referred: 'Referred',
    webhook: 'Sent'
  };
  var DELIVERY_TEXT = {
    queued: 'waiting to be sent', retrying: 'retrying', sent: 'sent', delivered: 'delivered',
    failed: 'failed', cancelled: 'not needed any more', unconfirmed: 'may have been sent'
  };

  // "<sink>:<event>" of a webhook event: told to the case system or a partner (by its label).
  function sentTo(detail) {
    var at = String(detail || '').indexOf(':');
    var sink = at < 0 ? detail : detail.slice(0, at);
    var what = at < 0 ? '' : detail.slice(at + 1);
    var name = 'the case system';
    var partners = (state.me && state.me.partners) || [];
    for (var i = 0; i < partners.length; i++)
      if (partners[i].name === sink) name = partners[i].label;
    return 'Sent to ' + name + ': ' + words(what);
  }

  function renderTimeline(t) {
    var list = $('d-timeline');
    clear(list);
    for (var i = 0; i < t.events.length; i++) {
      var e = t.events[i];
      var item = element('li', 'event ev-' + e.event);
      var head = label(EVENT_TEXT, e.event);
      if (e.event === 'webhook') head = sentTo(e.detail);
      else if (e.event === 'routed' || e.event === 'referred') head += ': ' + (e.event === 'routed' ?
        words(e.detail) : e.detail);
      else if (e.detail && e.event !== 'opened') head += ': ' + (e.event === 'assigned' ? e.detail :
        e.event === 'alerted' || e.event === 'alert_sent' || e.event === 'alert_failed' ||
        e.event === 'moved' ? e.detail : words(e.detail));
      if (e.delivery) head += ' (' + label(DELIVERY_TEXT, e.delivery) + ')';
      item.appendChild(element('span', 'event-what', head));
      var who = formatTime(e.at);
      if (e.by && e.by !== 'rabta') who += ' \u00b7 ' + e.by + (e.via === 'sms' ? ' by SMS' : '');
      item.appendChild(element('span', 'meta', who));
      if (e.text !== null && e.text !== undefined) item.appendChild(element('p', 'note-text', e.text));
      list.appendChild(item);
    }
  }

  function loadTimeline(reference) {
    state.timelineAt = Date.now();
    state.timelineStale = false;
    api('GET', 'cases/' + encodeURIComponent(reference) + '/timeline', null, function (status, data) {
      if (state.view !== 'detail' || state.wanted !== reference) return;
      if (status === 200 && data) renderTimeline(data);
    });
  }

  function loadDetail(reference, quiet) {
    if (!quiet) {
      $('d-message').textContent = '';
      $('d-ref').textContent = reference;
    }
    api('GET', 'cases/' + encodeURIComponent(reference), null, function (status, data) {
      if (state.view !== 'detail' || state.wanted !== reference) return;  // she moved on
      if (status === 200 && data) {
        renderDetail(data, Date.now());
        // Each read is audited: the timeline is read again when the case is opened, after a
        // step, and every half minute while it stays open, not at every poll.
        if (!quiet || state.timelineStale || Date.now() - state.timelineAt > 30000)
          loadTimeline(reference);
        return;
      }
      if (!quiet || status !== 0) $('d-message').textContent = errorText(status, data);
    });
  }

  function openCase(reference) {
    state.current = null;
    state.wanted = reference;
    show('detail');
    clear($('d-facts'));
    clear($('d-answers'));
    clear($('d-consents'));
    clear($('d-notes'));
    clear($('d-phone'));
    clear($('d-safe'));
    clear($('d-context'));
    clear($('d-timeline'));
    $('approval').hidden = true;
    $('reopen-form').hidden = true;
    $('close-reason').value = '';
    $('reopen-reason').value = '';
    $('decline-reason').value = '';
    $('d-status').textContent = '';
    $('d-severity').textContent = '';
    $('d-sla').hidden = true;
    $('note').value = '';
    loadDetail(reference, false);
  }

  // An action on the current case; the buttons stay disabled until the answer arrives.
  function act(path, body, buttons, doneText) {
    var d = state.current;
    if (!d) return;
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    $('d-message').textContent = 'Saving\u2026';
    api('POST', 'cases/' + encodeURIComponent(d.reference) + '/' + path, body, function (status, data) {
      for (var j = 0; j < buttons.length; j++) buttons[j].disabled = false;
      if (status === 200 || status === 201 || status === 202) {
        $('d-message').textContent = status === 202 ?
          'Sent to a supervisor for approval. The case stays open until then.' : doneText;
        state.timelineStale = true;
        if (path === 'notes') $('note').value = '';
        if (path === 'close') $('close-reason').value = '';
        if (path === 'reopen') $('reopen-reason').value = '';
        if (path === 'decline') $('decline-reason').value = '';
        loadDetail(d.reference, true);
      } else {
        $('d-message').textContent = errorText(status, data);
        if (state.current) renderDetail(state.current, Date.now());
      }
    });
  }

  // --- Navigation: #case/REF shows a case, anything else the queue (the back button works).

  function route() {
    if (!state.me) return;
    var m = /^#case\/([A-Za-z0-9]{1,16})$/.exec(window.location.hash);
    if (m) {
      openCase(m[1].toUpperCase());
    } else {
      show('queue');
      refreshQueue();
    }
  }

  function poll() {
    if (!state.me) return;
    if (state.view === 'queue') refreshQueue();
    else if (state.view === 'detail' && state.wanted) loadDetail(state.wanted, true);
  }

  function init() {
    $('signin-form').onsubmit = function (e) {
      e.preventDefault();
      var token = $('token').value.replace(/^\s+|\s+$/g, '');
      if (token) signIn(token);
      return false;
    };
    $('signout').onclick = function () { signOut(''); };
    $('back').onclick = function () { window.location.hash = ''; };
    $('ack').onclick = function () {
      act('ack', null, [$('ack')], 'Acknowledged. The alerts for this case have stopped.');
    };
    $('claim').onclick = function () {
      act('claim', null, [$('claim'), $('ack')], 'Claimed. This case is now yours.');
    };
    $('note-form').onsubmit = function (e) {
      e.preventDefault();
      var text = $('note').value;
      if (!text.replace(/\s+/g, '')) {
        $('d-message').textContent = 'Write the note first.';
        return false;
      }
      act('notes', { text: text }, [$('note-button')], 'Note saved.');
      return false;
    };
    $('close-form').onsubmit = function (e) {
      e.preventDefault();
      var outcome = $('outcome').value;
      var reason = $('close-reason').value;
      var d = state.current;
      if (!d || !outcome) return false;
      if (!reason.replace(/\s+/g, '')) {
        $('d-message').textContent = 'Write why the case is closed.';
        return false;
      }
      if (!window.confirm('Close case ' + d.reference + ' as "' + words(outcome) + '"?')) return false;
      act('close', { outcome: outcome, reason: reason }, [$('close-button')], 'Case closed.');
      return false;
    };
    $('assign-form').onsubmit = function (e) {
      e.preventDefault();
      var to = $('assign-to').value;
      if (!to) return false;
      act('assign', { to: to }, [$('assign-button')], 'Assigned to ' + to + '.');
      return false;
    };
    $('approve').onclick = function () {
      act('approve', null, [$('approve'), $('decline-button')], 'Closing approved. Case closed.');
    };
    $('decline-form').onsubmit = function (e) {
      e.preventDefault();
      var reason = $('decline-reason').value;
      if (!reason.replace(/\s+/g, '')) {
        $('d-message').textContent = 'Write why the closing is declined.';
        return false;
      }
      act('decline', { reason: reason }, [$('approve'), $('decline-button')],
        'Closing declined. The case stays open.');
      return false;
    };
    $('refer-form').onsubmit = function (e) {
      e.preventDefault();
      var partner = $('refer-to').value;
      var d = state.current;
      if (!d || !partner) return false;
      var label = $('refer-to').options[$('refer-to').selectedIndex].text;
      if (!window.confirm('Refer case ' + d.reference + ' to ' + label + '? They will receive ' +
        'what she agreed to share.')) return false;
      act('refer', { partner: partner }, [$('refer-button')], 'Referred to ' + label + '.');
      return false;
    };
    $('reopen-form').onsubmit = function (e) {
      e.preventDefault();
      var reason = $('reopen-reason').value;
      if (!reason.replace(/\s+/g, '')) {
        $('d-message').textContent = 'Write why the case is reopened.';
        return false;
      }
      act('reopen', { reason: reason }, [$('reopen-button')], 'Case reopened.');
      return false;
    };
    var tabs = document.querySelectorAll('.tab');
    for (var i = 0; i < tabs.length; i++) {
      tabs[i].onclick = function () {
        state.queueView = this.getAttribute('data-view');
        markTab();
        state.cases = [];
        clear($('cases'));
        refreshQueue(true);
      };
    }
    $('search-form').onsubmit = function (e) {
      e.preventDefault();
      readSearch();
      state.cases = [];
      clear($('cases'));
      refreshQueue(true);
      return false;
    };
    $('search-clear').onclick = function () {
      $('search-form').reset();
      state.search = {};
      state.cases = [];
      clear($('cases'));
      refreshQueue(true);
    };
    window.onhashchange = route;

    var token = loadToken();
    if (token) {
      show('queue');
      signIn(token);
    } else {
      show('signin');
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
