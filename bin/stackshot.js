#!/bin/sh
":" //; [ -z "${NODE_EXTRA_CA_CERTS+set}" ] || export STACKSHOT_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; exec node --v8-pool-size=1 "$0" "$@"
// The `stackshot` command. Its first two lines are sh, and JavaScript that does nothing: sh
// starts node on this same file without NODE_EXTRA_CA_CERTS. Node 20 reads and parses every
// certificate that variable names before it runs a line of JavaScript (about 35 ms for Debian's
// bundle, more than half of node's start-up), and stackshot makes no TLS connection. The
// variable is put back here, so that programs stackshot starts (demo, audit) see it unchanged.
// One V8 worker thread instead of node's four: a command that runs for tens of milliseconds
// spent ~1 ms starting and ending the other three.
// Started as `node bin/stackshot.js`, the sh lines are skipped and node pays for the certificates.
'use strict';

const saved = process.env.STACKSHOT_NODE_EXTRA_CA_CERTS;
if (saved !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = saved;
  delete process.env.STACKSHOT_NODE_EXTRA_CA_CERTS;
}
require('../dist/bin.js');
