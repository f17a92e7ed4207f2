/*
 * A stand-in for Zendesk's agent page around one app iframe, for the sidebar's browser tests.
 * It speaks the ZAF SDK's postMessage protocol (handshake, app.registered, get/set/invoke with
 * ids, events as zaf.<name>, request:<n> answered by request:<n>.done/.fail) and plays Zendesk's
 * request proxy: a secure request goes only to a domainWhitelist host, and only then are secure
 * settings filled into the places their scopes allow. The iframe's metadata carries non-secure
 * settings only, as Zendesk's does.
 *
 * window.HOST_CONFIG (config.js): {appPath, install: {settings}, ticket: {id, tags, ...},
 * account: {subdomain}, proxyMap: {"https://origin": "http://127.0.0.1:port/prefix"}}.
 */
(function () {
  'use strict';
  var cfg = window.HOST_CONFIG;
  var log = [];
  var iframe = document.getElementById('app');
  var manifest = null;
  var secure = {};      // secure parameter name -> its scopes
  var ticket = cfg.ticket;

  function send(message) {
    iframe.contentWindow.postMessage(JSON.stringify(message), location.origin);
  }

  function emit(event, data) {
    send({ key: 'zaf.' + event, message: data });
  }

  function ticketValue(path) {
    var fields = {
      'ticket.id': ticket.id,
      'ticket.tags': ticket.tags.slice(),
      'ticket.externalId': ticket.externalId || null,
      'ticket.subject': ticket.subject || '',
      'ticket.requester': ticket.requester || null,
      'currentUser': cfg.currentUser || { id: 1, name: 'Agent', role: 'agent' }
    };
    return Object.prototype.hasOwnProperty.call(fields, path) ? { value: fields[path] } : null;
  }

  function answerGet(paths) {
    var result = { errors: {} };
    paths.forEach(function (path) {
      var found = ticketValue(path);
      if (found) { result[path] = found.value; }
      else { result.errors[path] = { name: 'InvalidPathError', message: 'Invalid path', path: path }; }
    });
    return result;
  }

  function answerInvoke(calls) {
    var result = { errors: {} };
    Object.keys(calls).forEach(function (name) {
      var args = calls[name];
      if (name === 'resize') {
        iframe.style.height = args[0].height;
      } else if (name === 'ticket.tags.add' || name === 'ticket.tags.remove') {
        var add = name === 'ticket.tags.add';
        (Array.isArray(args[0]) ? args[0] : args).forEach(function (tag) {
          var at = ticket.tags.indexOf(tag);
          if (add && at < 0) { ticket.tags.push(tag); }
          if (!add && at >= 0) { ticket.tags.splice(at, 1); }
        });
        emit('ticket.tags.changed', ticket.tags.slice());
      } else {
        result.errors[name] = { name: 'InvalidActionError', message: 'Unknown action', path: name };
      }
      result[name] = null;
    });
    return result;
  }

  function fill(text, scope, secureRequest) {
    return String(text).replace(/\{\{setting\.(\w+)\}\}/g, function (whole, name) {
      if (Object.prototype.hasOwnProperty.call(secure, name)) {
        var allowed = secureRequest && secure[name].indexOf(scope) >= 0;
        return allowed ? String(cfg.install.settings[name]) : whole;
      }
      return name in cfg.install.settings ? String(cfg.install.settings[name]) : whole;
    });
  }

  function whitelisted(host) {
    return (manifest.domainWhitelist || []).some(function (d) {
      return host === d || host.slice(-(d.length + 1)) === '.' + d;
    });
  }

  function proxy(n, options) {
    var done = function (data) { emit('request:' + n + '.done', { responseArgs: [data, 'success', {}] }); };
    var fail = function (err) { emit('request:' + n + '.fail', { responseArgs: [err] }); };
    var target;
    try { target = new URL(options.url); } catch (e) {
      return fail({ status: 0, statusText: 'invalid URL', responseText: '' });
    }
    if (options.secure && !whitelisted(target.hostname)) {
      return fail({ status: 403, statusText: 'domain not in domainWhitelist: ' + target.hostname, responseText: '' });
    }
    var url = new URL(fill(options.url, 'url', options.secure));
    var headers = {};
    Object.keys(options.headers || {}).forEach(function (k) {
      headers[k] = fill(options.headers[k], 'header', options.secure);
    });
    var mapped = cfg.proxyMap[url.origin];
    if (!mapped) { return fail({ status: 502, statusText: 'unreachable host ' + url.origin, responseText: '' }); }
    fetch(mapped + url.pathname + url.search, {
      method: options.type || 'GET',
      headers: headers,
      body: options.data ? fill(options.data, 'body', options.secure) : undefined
    }).then(function (res) {
      return res.text().then(function (body) {
        if (!res.ok) { return fail({ status: res.status, statusText: res.statusText, responseText: body }); }
        done(options.dataType === 'json' ? JSON.parse(body) : body);
      });
    }, function (err) { fail({ status: 0, statusText: String(err), responseText: '' }); });
  }

  window.addEventListener('message', function (event) {
    if (event.source !== iframe.contentWindow) { return; }
    var m;
    try { m = JSON.parse(event.data); } catch (e) { return; }
    log.push(m);
    if (m.key === 'iframe.handshake') {
      var open = {};
      Object.keys(cfg.install.settings).forEach(function (k) {
        if (!Object.prototype.hasOwnProperty.call(secure, k)) { open[k] = cfg.install.settings[k]; }
      });
      emit('app.registered', {
        context: { product: 'support', location: 'ticket_sidebar', ticketId: ticket.id,
                   instanceGuid: 'test-app-guid', account: cfg.account },
        metadata: { appId: 0, installationId: 1, name: manifest.name, version: manifest.version, settings: open }
      });
    } else if (m.id && m.request === 'get') {
      send({ id: m.id, result: answerGet(m.params) });
    } else if (m.id && m.request === 'invoke') {
      send({ id: m.id, result: answerInvoke(m.params) });
    } else if (m.id && m.request === 'set') {
      send({ id: m.id, result: { errors: {} } });
    } else if (/^request:\d+$/.test(m.key || '')) {
      proxy(m.key.split(':')[1], m.message);
    }
  });

  fetch(cfg.appPath + 'manifest.json').then(function (r) { return r.json(); }).then(function (m) {
    manifest = m;
    (m.parameters || []).forEach(function (p) { if (p.secure) { secure[p.name] = p.scopes || []; } });
    var place = m.location.support.ticket_sidebar;
    iframe.src = cfg.appPath + (typeof place === 'string' ? place : place.url) +
      '?origin=' + encodeURIComponent(location.origin) + '&app_guid=test-app-guid';
  });

  window.__host = { log: log, emit: emit, ticket: ticket };
}());
