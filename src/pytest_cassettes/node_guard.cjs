// pytest-cassettes: a guarded test's network guard, in a Node.js child process.
//
// While a test of a replay-only run (or one under --block-network) runs, the children it starts
// get NODE_OPTIONS="--require <this file> ..." and PYTEST_CASSETTES_NODE_GUARD, which describes
// its guards (children_node.py). Node before 24 ignores the proxy variables naming the trap
// (children_proxy.py), and no version sends a database's TCP through it: here a connection to a
// host some guard does not allow is refused where every TCP connection starts,
// net.Socket.prototype.connect (net.connect, tls.connect, http, https, http2, fetch), and told
// to the test as the trap tells its blocks (a JSON line in the guard's report file), so the test
// fails naming this process. A name is checked as given, before it is looked up; an address as
// the guards' addresses and ranges allow it; Unix sockets and the trap itself stay reachable.
"use strict";

(function guard() {
  const text = process.env.PYTEST_CASSETTES_NODE_GUARD;
  const net = require("net");
  if (!text || typeof net.BlockList !== "function") {
    return; // not under a guard, or a Node without BlockList (before 14.18): left alone
  }
  // Written by children_node.py; a value it did not write (a test's own) leaves Node alone
  // rather than killing every child at its start.
  let described, guards;
  try {
    described = JSON.parse(text);
    guards = described.guards.map(function (wire) {
      return {
        key: wire.key,
        report: String(wire.report),
        test: wire.test,
        names: wire.names || [],
        nets: wire.nets || [],
        patterns: (wire.patterns || []).map(pattern),
        lists: null,
      };
    });
  } catch (error) {
    return;
  }
  const fs = require("fs");
  const path = require("path");
  const url = require("url");
  const connect = net.Socket.prototype.connect;
  let loopback = null;

  net.Socket.prototype.connect = function (...args) {
    const options = destination(args);
    if (options && !(this._parent && this._parent.connecting)) {
      const host = String(options.host || "localhost");
      const number = Number(options.port);
      const port = Number.isInteger(number) ? number : null;
      const trap = port === described.trap && host === "127.0.0.1";
      const refusing = trap ? [] : guards.filter((guard) => !allows(guard, host, port));
      if (refusing.length) {
        const child = thisChild();
        refusing.forEach((guard) => tell(guard, host, port, child));
        const error = new Error(
          `pytest-cassettes: network access to ${host}:${port} blocked in a child process of ` +
            `${refusing[0].test}: a replay-only run makes no real connections.`
        );
        error.code = "ERR_NETWORK_BLOCKED";
        process.nextTick(() => this.destroy(error));
        return this;
      }
    }
    return connect.apply(this, args);
  };

  // The host and port a connect is given, as net reads them; null for a Unix socket or a call
  // the original refuses.
  function destination(args) {
    let first = args[0];
    if (Array.isArray(first)) {
      first = first[0]; // normalized by net.connect already: [options, callback]
    } else if (typeof first !== "object" || first === null) {
      if (typeof first === "string" && !(Number(first) >= 0)) {
        return null; // a pipe's path
      }
      first = { port: first, host: typeof args[1] === "string" ? args[1] : undefined };
    }
    if (!first || first.path || first.port === undefined) {
      return null; // a path net reads as one (an empty path is none: the host is reached)
    }
    return first;
  }

  // As AllowList.allows does (network.py): regular expressions from the start of the host, then
  // names by name, addresses by the ranges; a loopback address as the name localhost.
  function allows(guard, host, port) {
    const name = normalName(host);
    if (guard.patterns.some((p) => p.test(host) || p.test(name))) {
      return true;
    }
    const bare = host.replace(/^\[(.*)\]$/, "$1").split("%")[0];
    const family = net.isIP(bare) === 4 ? "ipv4" : net.isIP(bare) === 6 ? "ipv6" : null;
    if (!family) {
      return guard.names.some((entry) => entry[0] === name && matches(entry[1], port));
    }
    if (!guard.lists) {
      guard.lists = guard.nets.map((entry) => [ranges([entry]), entry[3], entry[2]]);
    }
    // An IPv6 range holds no IPv4 address (BlockList would match its mapped form).
    const within = (entry) =>
      (family === "ipv6" || entry[2] === "ipv4") && entry[0].check(bare, family);
    if (guard.lists.some((entry) => matches(entry[1], port) && within(entry))) {
      return true;
    }
    loopback = loopback || ranges([["127.0.0.0", 8, "ipv4"], ["::1", 128, "ipv6"]]);
    return loopback.check(bare, family) && allows(guard, "localhost", port);
  }

  function matches(allowed, port) {
    return allowed === null || port === null || allowed === port;
  }

  function ranges(entries) {
    const list = new net.BlockList();
    entries.forEach((entry) => list.addSubnet(entry[0], entry[1], entry[2]));
    return list;
  }

  function normalName(host) {
    const name = host.trim().replace(/\.+$/, "").toLowerCase();
    return /^[\x00-\x7f]*$/.test(name) ? name : url.domainToASCII(name) || name;
  }

  // A regular expression as Python's re.match applies it; one JavaScript cannot read allows
  // nothing.
  function pattern(source) {
    try {
      return new RegExp(`^(?:${source})`);
    } catch (error) {
      return /(?!)/;
    }
  }

  // This process, as a block names it (children._this_child's form): its pid and command.
  function thisChild() {
    const words = [path.basename(process.execPath)].concat(
      process.execArgv,
      process.argv.slice(1)
    );
    const child = `pid ${process.pid}: ${words.join(" ").split(/\s+/).join(" ").trim()}`;
    return child.length <= 100 ? child : child.slice(0, 97) + "...";
  }

  // One JSON line in the guard's report file, as children.tell writes it; nothing once the
  // file is gone (the test's run is over: the error still stops the connection).
  function tell(guard, host, port, child) {
    const line = JSON.stringify({ key: guard.key, host: host, port: port, child: child });
    try {
      const descriptor = fs.openSync(guard.report, fs.constants.O_WRONLY | fs.constants.O_APPEND);
      try {
        fs.writeSync(descriptor, line + "\n");
      } finally {
        fs.closeSync(descriptor);
      }
    } catch (error) {
      // told in this process only
    }
  }
})();
