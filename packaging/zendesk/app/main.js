/*
 * socialdesk ticket sidebar: the social thread behind this ticket, read from the socialdesk
 * daemon through Zendesk's request proxy (packaging/zendesk/README.md gives the JSON it reads).
 * The agent view token is a secure setting: Zendesk's proxy writes it into the Authorization
 * header on its way to the daemon, so this page only ever holds the {{setting...}} placeholder.
 * Everything from the network is shown as text, never as HTML.
 */
(function () {
  'use strict';

  var API_PATH = '/api/agent-view/tickets/';
  var STATE_LABELS = {
    queued: 'Waiting to post',
    posting: 'Posting…',
    posted: 'Posted',
    held: 'Held',
    failed: 'Failed'
  };
  var HOLD_LABELS = {
    approval: 'Held until a lead approves',
    messaging_window: 'Held: outside the messaging window',
    guard: 'Held by a check',
    length: 'Held: too long for the network'
  };

  var client = ZAFClient.init();
  if (!client) { return; }   // opened outside Zendesk
  var root = document.getElementById('app');
  var lastHeight = 0;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function safeUrl(url) {
    return typeof url === 'string' && /^https:\/\//i.test(url) ? url : null;
  }

  function link(url, text, cls) {
    var safe = safeUrl(url);
    if (!safe) { return el('span', cls, text); }
    var a = el('a', cls, text);
    a.href = safe;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  function parseTime(iso) {
    var t = Date.parse(iso);
    return isNaN(t) ? null : t;
  }

  // "3 h ago" / "in 5 min", against the daemon's clock so a slow browser clock does not lie.
  function relative(iso, nowMs) {
    var t = parseTime(iso);
    if (t === null) { return ''; }
    var s = Math.round((t - nowMs) / 1000), a = Math.abs(s), n, unit;
    if (a < 60) { return 'just now'; }
    if (a < 3600) { n = Math.round(a / 60); unit = 'min'; }
    else if (a < 86400) { n = Math.round(a / 3600); unit = 'h'; }
    else { n = Math.round(a / 86400); unit = n === 1 ? 'day' : 'days'; }
    return s < 0 ? n + ' ' + unit + ' ago' : 'in ' + n + ' ' + unit;
  }

  function when(iso, nowMs) {
    var t = parseTime(iso);
    if (t === null) { return null; }
    var node = el('time', 'when', relative(iso, nowMs));
    node.dateTime = iso;
    node.title = new Date(t).toLocaleString();
    return node;
  }

  function fit() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== lastHeight) {
      lastHeight = height;
      client.invoke('resize', { width: '100%', height: height + 'px' });
    }
  }

  function show(nodes) {
    root.textContent = '';
    nodes.forEach(function (node) { if (node) { root.appendChild(node); } });
    fit();
  }

  function renderAuthor(view) {
    var author = view.author || {};
    var box = el('div', 'author');
    box.appendChild(el('span', 'network', view.network_name || view.network || 'social'));
    if (author.name) { box.appendChild(el('span', 'name', author.name)); }
    if (author.handle) {
      var handle = String(author.handle).replace(/^@/, '');
      box.appendChild(link(author.url, '@' + handle, 'handle'));
    }
    if (typeof author.followers === 'number') {
      box.appendChild(el('span', 'followers muted', author.followers.toLocaleString('en') + ' followers'));
    }
    if (author.verified) { box.appendChild(el('span', 'verified muted', 'verified')); }
    return box;
  }

  function renderWindow(win, nowMs) {
    if (!win || !win.closes_at) { return null; }
    var closes = parseTime(win.closes_at);
    var open = closes !== null && closes > nowMs;
    var box = el('div', 'window' + (open ? '' : ' closed'));
    var about = win.applies_to || 'private replies';
    if (open) {
      box.textContent = 'Messaging window: ' + about + ' possible until ' +
        new Date(closes).toLocaleString() + ' (' + relative(win.closes_at, nowMs) + ').';
    } else {
      box.textContent = 'Messaging window closed ' + relative(win.closes_at, nowMs) + ': ' + about +
        ' wait until the customer writes again.';
    }
    if (win.human_agent_until && parseTime(win.human_agent_until) > nowMs) {
      box.appendChild(el('div', 'why', 'A person may still answer until ' +
        new Date(parseTime(win.human_agent_until)).toLocaleString() + ' (' +
        relative(win.human_agent_until, nowMs) + ').'));
    }
    return box;
  }

  function releaseButton(item) {
    var button = el('button', 'release', 'Release this reply');
    button.type = 'button';
    button.title = 'Adds the tag ' + item.release_tag + '; the reply goes out when the ticket is submitted';
    button.addEventListener('click', function () {
      button.disabled = true;
      client.invoke('ticket.tags.add', item.release_tag).then(function () {
        button.textContent = 'Tag ' + item.release_tag + ' added: submit the ticket to send the reply';
        fit();
      }, function (err) {
        button.disabled = false;
        button.textContent = 'Could not add the tag: ' + (err && err.message || err);
        fit();
      });
    });
    return button;
  }

  function renderItem(item, nowMs) {
    var brand = item.by === 'brand';
    var li = el('li', brand ? 'brand' : 'customer');
    var by = el('div', 'by', brand ? 'socialdesk' : 'Customer');
    var at = when(item.at, nowMs);
    if (at) { by.appendChild(document.createTextNode(' · ')); by.appendChild(at); }
    li.appendChild(by);
    li.appendChild(el('div', 'text', item.text || ''));
    if (brand) {
      var state = item.state || 'queued';
      var label = state === 'held' ? (HOLD_LABELS[item.hold] || STATE_LABELS.held) : (STATE_LABELS[state] || state);
      var status = el('div', 'status');
      status.appendChild(el('span', 'state ' + state, label));
      if (state === 'posted' && safeUrl(item.url)) {
        status.appendChild(document.createTextNode(' · '));
        status.appendChild(link(item.url, 'view on ' + (item.network_name || 'the network')));
      }
      li.appendChild(status);
      if (item.why) { li.appendChild(el('div', 'why muted', item.why)); }
      if (state === 'held' && item.release_tag) { li.appendChild(releaseButton(item)); }
    } else if (safeUrl(item.url)) {
      li.appendChild(link(item.url, 'view on ' + (item.network_name || 'the network'), 'when'));
    }
    return li;
  }

  function render(view) {
    var nowMs = parseTime(view.now) || Date.now();
    var post = view.post || {};
    var nodes = [renderAuthor(view)];
    nodes.push(el('p', 'post', post.text || ''));
    var meta = el('div', 'when');
    var at = when(post.created_at, nowMs);
    if (at) { meta.appendChild(at); meta.appendChild(document.createTextNode(' · ')); }
    meta.appendChild(link(post.url, 'Open on ' + (view.network_name || 'the network'), 'open-post'));
    nodes.push(meta);
    nodes.push(renderWindow(view.window, nowMs));
    var thread = Array.isArray(view.thread) ? view.thread : [];
    if (thread.length) {
      nodes.push(el('h2', null, 'Conversation'));
      var list = el('ol', 'thread');
      thread.forEach(function (item) {
        list.appendChild(renderItem(Object.assign({ network_name: view.network_name }, item), nowMs));
      });
      nodes.push(list);
    }
    nodes.push(footer());
    show(nodes);
  }

  function footer() {
    var foot = el('div', 'foot muted');
    var refresh = el('a', null, 'Refresh');
    refresh.href = '#';
    refresh.addEventListener('click', function (event) { event.preventDefault(); load(); });
    foot.appendChild(refresh);
    return foot;
  }

  // Zendesk's proxy rejects with {status, statusText, responseText}.
  function failure(err) {
    var status = err && err.status;
    var said = '';
    try { said = JSON.parse(err.responseText).error || ''; } catch (e) { said = ''; }
    if (status === 404) {
      return 'socialdesk has no social post for this ticket' + (said ? ': ' + said : '.');
    }
    if (status === 401 || status === 403) {
      return 'socialdesk refused the request: ' + (said || err.statusText || 'check the app\'s agent view token') + '.';
    }
    return 'socialdesk unavailable: ' + (said || (err && (err.statusText || err.message)) || 'no answer') + '.';
  }

  function problem(text) {
    show([el('p', 'problem', text), footer()]);
  }

  function load() {
    return Promise.all([client.metadata(), client.context(), client.get('ticket.id')]).then(function (got) {
      var settings = (got[0] && got[0].settings) || {};
      var account = got[1] && got[1].account && got[1].account.subdomain;
      var ticketId = got[2]['ticket.id'];
      var base = String(settings.daemon_url || '').replace(/\/+$/, '');
      if (!safeUrl(base)) {
        problem('socialdesk is not set up: the app\'s socialdesk address must be an https URL.');
        return;
      }
      var url = base + API_PATH + encodeURIComponent(ticketId) +
        (account ? '?account=' + encodeURIComponent(account) : '');
      return client.request({
        url: url,
        type: 'GET',
        dataType: 'json',
        secure: true,
        headers: { Authorization: 'Bearer {{setting.api_token}}' }
      }).then(render, function (err) { problem(failure(err)); });
    }).catch(function (err) { problem('socialdesk sidebar: ' + (err && err.message || err)); });
  }

  client.on('app.registered', function () {
    if (window.ResizeObserver) { new ResizeObserver(fit).observe(document.documentElement); }
    load();
  });
  // An agent's answer becomes a queued reply: show it.
  client.on('ticket.submit.done', function () { load(); });
}());
