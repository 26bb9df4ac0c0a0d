
use builtin;
use str;

set edit:completion:arg-completer[sbrp] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'sbrp'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'sbrp'= {
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand selftest 'Run a complete SBRP session in memory and check every defence (exit 0 only if all pass)'
            cand keygen 'Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)'
            cand pubkey 'Print the public key of a secret key file'
            cand fingerprint 'Print the fingerprint or randomart of a public or secret key, or compare fingerprints'
            cand pin 'Manage the TOFU pin file (daemon id -> pinned identity key)'
            cand decode 'Decode a capture of SBRP frames, and decrypt it given the keys'
            cand peer 'A known-good SBRP echo daemon and test client for live interoperability tests'
            cand relay 'Run an SBRP relay: authenticate, pair daemons and clients, forward their frames'
            cand token 'Mint, inspect and verify relay tokens (EdDSA JWTs), and print JWKS'
            cand bench 'Measure handshakes, AEAD, framing and the streaming decoder'
            cand completions 'Print a shell completion script'
            cand man 'Print the manual page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;selftest'= {
            cand --keylog 'Append the loopback session''s keys to FILE (key-log format, see FILES), so `sbrp decode --keylog FILE` can decrypt the capture; also enabled by a non-empty SBRP_KEYLOGFILE'
            cand --capture 'Write every frame of the loopback session to FILE (raw SBRP stream, for `sbrp decode`); an existing FILE is replaced only with --force, a symbolic link never'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print one JSON object (schema sbrp.selftest/1) instead of the checklist'
            cand --force 'Replace an existing --capture file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;keygen'= {
            cand -o 'Where to write the secret key; `-` for stdout [default: <config dir>/identity.pem]'
            cand --output 'Where to write the secret key; `-` for stdout [default: <config dir>/identity.pem]'
            cand --format 'Format of the secret key'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --force 'Replace an existing file (atomically; the old key is lost)'
            cand --json 'Print the report (path, public key, fingerprint, randomart) as one JSON object'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pubkey'= {
            cand --format 'Output format'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Same as --format json'
            cand --seed 'Read a bare 32-byte value (hex, base64, raw) as an Ed25519 seed (by default it is a public key, printed normalised with a note)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;fingerprint'= {
            cand --format 'Output format'
            cand --compare 'Compare with this fingerprint (SHA256:AB:CD:… in any case, or 64 bare hex digits): exit 0 when it matches, 4 when it does not'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Same as --format json'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin'= {
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --wait 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Pin a daemon''s identity key (the same key again is a no-op; another key is refused, exit 4)'
            cand replace 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)'
            cand check 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed'
            cand list 'List the pins'
            cand show 'Show one pin (exit 3 if absent)'
            cand remove 'Remove a pin (exit 3 if absent)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;pin;add'= {
            cand --comment 'A note stored with the pin'
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --wait 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print the outcome as JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;replace'= {
            cand --comment 'A new note (default: keep the old one)'
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --wait 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand -y 'Do not ask for confirmation (required when stdin is not a terminal)'
            cand --yes 'Do not ask for confirmation (required when stdin is not a terminal)'
            cand --json 'Print the outcome as JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;check'= {
            cand --policy 'What to do with an unknown daemon'
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --wait 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print the outcome as JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;list'= {
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --wait 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print the pin file as JSON (same shape as the file)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;show'= {
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --wait 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print it as JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;remove'= {
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --wait 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print the removed pin as JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;help'= {
            cand add 'Pin a daemon''s identity key (the same key again is a no-op; another key is refused, exit 4)'
            cand replace 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)'
            cand check 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed'
            cand list 'List the pins'
            cand show 'Show one pin (exit 3 if absent)'
            cand remove 'Remove a pin (exit 3 if absent)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;pin;help;add'= {
        }
        &'sbrp;pin;help;replace'= {
        }
        &'sbrp;pin;help;check'= {
        }
        &'sbrp;pin;help;list'= {
        }
        &'sbrp;pin;help;show'= {
        }
        &'sbrp;pin;help;remove'= {
        }
        &'sbrp;pin;help;help'= {
        }
        &'sbrp;decode'= {
            cand --input 'Encoding of the input: auto detects a HAR file (starts with `{`), hex text, then base64 text, else raw bytes'
            cand --format 'Output format'
            cand --keylog 'Decrypt Data frames with the keys of this key log (format: FILES below)'
            cand --daemon-id 'The daemon id of the captured handshakes: verifies HandshakeAccept signatures'
            cand --client-ephemeral 'The client''s X25519 ephemeral secret (64 hex digits, or @FILE to read them from a file so the secret stays out of the process list): derive the keys of the captured handshake that used it, then decrypt'
            cand --daemon-ephemeral 'The daemon''s X25519 ephemeral secret (64 hex digits or @FILE), as --client-ephemeral'
            cand --pins 'Pin file: say whether the daemon''s identity key matches its pin (needs --daemon-id)'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'The same as --format json'
            cand -v 'Show every field with its offset and length, and a hex dump coloured by field'
            cand --verbose 'Show every field with its offset and length, and a hex dump coloured by field'
            cand --strict 'Exit with status 6 when there is any diagnostic'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;peer'= {
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand daemon 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)'
            cand client 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;peer;daemon'= {
            cand --key 'The daemon''s Ed25519 secret key file (any encoding `sbrp keygen` writes; `-` for stdin); must not be readable by group or others'
            cand --daemon-id 'The daemon id clients ask for (part of what the daemon signs)'
            cand --listen 'Serve TCP connections on HOST:PORT instead of stdin/stdout (port 0 picks one; the address is printed on stderr)'
            cand --max-connections 'With --listen: the most connections served at once (more are closed at once)'
            cand --max-sessions 'The most sessions one connection may hold; a HandshakeInit for a new session beyond it gets no accept (it is logged and counted)'
            cand --idle-timeout 'Close a connection that sent nothing for this long (0: never); with --relay, then reconnect'
            cand --handshake-rate 'Handshakes answered per second on one connection, with a burst of as many (0: no limit); a HandshakeInit over the budget is refused at once, never queued'
            cand --relay 'Talk through the relay at ws[s]://HOST[:PORT][/PATH] (one SBRP frame per WebSocket message; needs a token)'
            cand --token-file 'Read the relay token from FILE (re-read at every connection attempt) [env: SBRP_TOKEN holds the token itself]'
            cand --token 'The relay token itself (visible to other users in the process list: prefer --token-file or SBRP_TOKEN)'
            cand --auth 'How the token reaches the relay: query (?token=, the default) or header (Authorization: Bearer)'
            cand --ca 'Trust the CA certificates in this PEM FILE for wss:// (instead of the system''s roots)'
            cand --handshake-timeout 'Seconds a handshake may take before it fails with handshake_timeout (0: no limit)'
            cand --keylog 'Append the session keys to FILE (for `sbrp decode`); also enabled by a non-empty SBRP_KEYLOGFILE. Anyone who can read FILE can decrypt those sessions'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --raw 'Echo bare SBRP Data payloads instead of speaking SBP and RPC (for SBRP-only peers)'
            cand --json 'Log events on stderr as JSON lines (schema sbrp.peer-daemon/1) instead of text'
            cand --once 'With --relay: end when the presence connection ends instead of reconnecting'
            cand --resumable 'With --relay: keep the established sessions (keys, counters, replay windows) across a reconnect and resume them (Signal ready), for up to 30 s; the token needs scope session:resume (sbrp token mint --scp session:resume)'
            cand -q 'Print only errors on stderr'
            cand --quiet 'Print only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;peer;client'= {
            cand --daemon-id 'The daemon id to open a session with (part of what the daemon signs)'
            cand --identity-key 'Expect exactly this identity key (hex, base64, PEM, or a file holding one) instead of using the pin file'
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --policy 'What to do with a daemon id that is not pinned: strict refuses (exit 3), accept-new pins it, ask asks on a terminal (and acts as strict otherwise, and always in stdio mode). A changed key always fails (exit 4). [default: strict]'
            cand --session-id 'The session id (1 to 2^64−1) [default: random]'
            cand --message 'A message to send (repeatable); its echo must match byte for byte'
            cand --count 'Also send N generated messages of sizes from 0 to 65508 bytes'
            cand --connect 'Connect to HOST:PORT instead of using stdin/stdout'
            cand --exec 'Run CMD (with sh -c) and talk over its stdin/stdout, like ssh''s ProxyCommand. CMD runs in its own process group, ended as a whole when the client ends (so it cannot read the terminal: use ssh keys or an agent, not a password prompt)'
            cand --timeout 'Seconds to wait for each echo (or Pong); 0: no limit, as for --handshake-timeout'
            cand --call 'Call METHOD over RPC and print the result (repeatable; replaces the echo check)'
            cand --params 'JSON params of the --call it follows (a call without one sends no params)'
            cand --relay 'Talk through the relay at ws[s]://HOST[:PORT][/PATH] (one SBRP frame per WebSocket message; needs a token)'
            cand --token-file 'Read the relay token from FILE (re-read at every connection attempt) [env: SBRP_TOKEN holds the token itself]'
            cand --token 'The relay token itself (visible to other users in the process list: prefer --token-file or SBRP_TOKEN)'
            cand --auth 'How the token reaches the relay: query (?token=, the default) or header (Authorization: Bearer)'
            cand --ca 'Trust the CA certificates in this PEM FILE for wss:// (instead of the system''s roots)'
            cand --handshake-timeout 'Seconds a handshake may take before it fails with handshake_timeout (0: no limit)'
            cand --keylog 'Append the session keys to FILE (for `sbrp decode`); also enabled by a non-empty SBRP_KEYLOGFILE. Anyone who can read FILE can decrypt those sessions'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --ping 'Send a Ping before the handshake and wait for the Pong'
            cand --json 'Print the summary as JSON (schema sbrp.peer-client/1)'
            cand --raw 'Exchange bare SBRP Data payloads (echo check) instead of SBP and RPC'
            cand -q 'Print only errors on stderr'
            cand --quiet 'Print only errors on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;peer;help'= {
            cand daemon 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)'
            cand client 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;peer;help;daemon'= {
        }
        &'sbrp;peer;help;client'= {
        }
        &'sbrp;peer;help;help'= {
        }
        &'sbrp;relay'= {
            cand --listen 'Address to listen on; port 0 picks a free one (the ready line says which)'
            cand --jwks 'The JWKS (JSON Web Key Set) tokens are verified with; re-read when it changes'
            cand --iss 'The issuer tokens must name (`iss`) [default: any issuer]'
            cand --tls-cert 'Serve wss:// with this PEM certificate chain (needs --tls-key)'
            cand --tls-key 'The PEM private key of --tls-cert (mode 0600)'
            cand --grace 'R2: seconds a paused session waits for its daemon'
            cand --ping-interval 'R3: seconds between the relay''s Pings to each endpoint'
            cand --idle-timeout 'R3: an endpoint silent this many seconds is closed with 1001'
            cand --rate 'R4: frames per second per connection'
            cand --burst 'R4: token-bucket size (frames a connection may send at once)'
            cand --max-queue 'R5: unsent bytes per connection before `backpressure` and close 1013'
            cand --max-total-queue 'R5 relay-wide: unsent bytes of all connections together; beyond it the connection with the largest queue gets `backpressure` and close 1013'
            cand --max-connections 'Open connections at most (HTTP 503 beyond)'
            cand --max-handshakes 'Connections still authenticating (TLS and upgrade not done) at most; a new one beyond it closes the oldest unfinished one'
            cand --max-pending-per-ip 'Connections still authenticating per IPv4 address or IPv6 /64; a new one beyond it closes that address''s oldest unfinished one. 0: no cap (behind a proxy, where every connection comes from the proxy''s address)'
            cand --threads 'Threads serving connections: 1 runs everything on one thread, N > 1 on N, 0 one per CPU'
            cand --log-format 'The log on stderr: one line per event'
            cand --metrics 'Serve Prometheus metrics on this address (GET /metrics, GET /healthz); port 0 picks a free one (the --json ready line says which)'
            cand --capture 'Write every frame the relay sends to FILE as a raw SBRP stream, for `sbrp decode` (created new, mode 0600)'
            cand --capture-log 'Write one JSON line per frame handled and per connection to FILE (schema sbrp.relay-capture-log/1; created new, mode 0600)'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --dev 'A local deployment to try: listen on 127.0.0.1, make a throwaway issuer key, JWKS and daemon identity in a fresh private directory, print the commands that use them'
            cand --force 'Replace an existing --capture or --capture-log file'
            cand --json 'Print the ready line as JSON (schema sbrp.relay-ready/1)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;token'= {
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand mint 'Sign a relay token with an Ed25519 key file'
            cand inspect 'Decode a token without verifying it, and list every rule it breaks'
            cand verify 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)'
            cand jwks 'Print the JWKS (JSON Web Key Set) of one or more key files'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;token;mint'= {
            cand --key 'Secret key file that signs the token (as `sbrp keygen` writes it), or `-` for stdin'
            cand --role 'Who the token is for'
            cand --did 'The daemon id the connection is routed to (`did`)'
            cand --sid 'Session id, decimal or 0x-hex, non-zero (clients only) [default: random]'
            cand --sub 'Principal (`sub`) [default: the daemon id for daemons, a random `client-…` for clients]'
            cand --ttl 'Lifetime in seconds [default: 120 for clients (at most 300), 3600 for daemons]'
            cand --iss 'Issuer (`iss`); a relay checks it against its own --iss'
            cand --aud 'Audience (`aud`); repeat for several [default: sideband-relay]'
            cand --scp 'A scope (`scp`); repeat for several. Clients always get `session:create`; give `session:resume` to a daemon that resumes sessions'
            cand --kid 'Key id in the header [default: the key''s RFC 7638 JWK thumbprint, as `token jwks` lists it]'
            cand --lim-sessions '`lim.concurrent_sessions`: the most live sessions (at least 1)'
            cand --region 'Relay region the token is bound to (`region`)'
            cand --iat 'Issue time, Unix seconds [default: now] (for tokens minted ahead, and tests)'
            cand -o 'Write the token to FILE (created 0600) instead of stdout'
            cand --output 'Write the token to FILE (created 0600) instead of stdout'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --force 'Replace an existing --output file'
            cand --json 'Print a JSON report with the header and claims (schema sbrp.token.mint/1)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;token;inspect'= {
            cand --token-file 'File holding the token (`-` for stdin)'
            cand --jwks 'Also check the signature against this JWKS file (step 4)'
            cand --iss 'Expected issuer (`iss`); without it any issuer is accepted (step 6 skipped)'
            cand --region 'Relay region (step 13 is skipped without it)'
            cand --at 'Check as if the clock read this time, Unix seconds [default: now]'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print JSON (schema sbrp.token.inspect/1)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;token;verify'= {
            cand --token-file 'File holding the token (`-` for stdin)'
            cand --jwks 'JWKS file with the issuer''s public keys (`sbrp token jwks` writes one)'
            cand --aud 'Required audience'
            cand --iss 'Expected issuer (`iss`); without it any issuer is accepted (step 6 skipped)'
            cand --region 'Relay region (step 13 is skipped without it)'
            cand --at 'Check as if the clock read this time, Unix seconds [default: now]'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print JSON (schema sbrp.token.verify/1), on failure too'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;token;jwks'= {
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print a JSON report (schema sbrp.token.jwks/1) wrapping the JWKS with each key''s source and fingerprint, instead of the bare JWKS'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;token;help'= {
            cand mint 'Sign a relay token with an Ed25519 key file'
            cand inspect 'Decode a token without verifying it, and list every rule it breaks'
            cand verify 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)'
            cand jwks 'Print the JWKS (JSON Web Key Set) of one or more key files'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;token;help;mint'= {
        }
        &'sbrp;token;help;inspect'= {
        }
        &'sbrp;token;help;verify'= {
        }
        &'sbrp;token;help;jwks'= {
        }
        &'sbrp;token;help;help'= {
        }
        &'sbrp;bench'= {
            cand --seconds 'Seconds per measurement (13 measurements plus 4 per size)'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print the results as JSON (schema sbrp.bench/1)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand relay 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions'' memory, handshakes'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;bench;relay'= {
            cand --seconds 'Seconds per measurement (each size: 2 × this for the throughput rounds and 0.3 × this for round trips; paced: this, at least 1, through the relay and again direct)'
            cand --sessions 'Client sessions held open at once in the concurrency phase (the bench raises its own open-file limit, which the relay inherits, to fit them)'
            cand --window 'Messages in flight in the throughput rounds, on both paths (at most 512: in 16 KiB frames, half the relay''s default queue; a fuller queue would measure backpressure)'
            cand --tamper-every 'Test hook: the bench''s own daemon changes one byte of every Nth echo it sends, which the client must catch (the bench then fails with exit 6)'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print the results as JSON (schema sbrp.bench-relay/1)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;bench;help'= {
            cand relay 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions'' memory, handshakes'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;bench;help;relay'= {
        }
        &'sbrp;bench;help;help'= {
        }
        &'sbrp;completions'= {
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print {"schema": "sbrp.completions/1", "shell", "script"} instead of the bare script'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;man'= {
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print {"schema": "sbrp.man/1", "page", "roff"} instead of the bare page'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;help'= {
            cand selftest 'Run a complete SBRP session in memory and check every defence (exit 0 only if all pass)'
            cand keygen 'Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)'
            cand pubkey 'Print the public key of a secret key file'
            cand fingerprint 'Print the fingerprint or randomart of a public or secret key, or compare fingerprints'
            cand pin 'Manage the TOFU pin file (daemon id -> pinned identity key)'
            cand decode 'Decode a capture of SBRP frames, and decrypt it given the keys'
            cand peer 'A known-good SBRP echo daemon and test client for live interoperability tests'
            cand relay 'Run an SBRP relay: authenticate, pair daemons and clients, forward their frames'
            cand token 'Mint, inspect and verify relay tokens (EdDSA JWTs), and print JWKS'
            cand bench 'Measure handshakes, AEAD, framing and the streaming decoder'
            cand completions 'Print a shell completion script'
            cand man 'Print the manual page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sbrp;help;selftest'= {
        }
        &'sbrp;help;keygen'= {
        }
        &'sbrp;help;pubkey'= {
        }
        &'sbrp;help;fingerprint'= {
        }
        &'sbrp;help;pin'= {
            cand add 'Pin a daemon''s identity key (the same key again is a no-op; another key is refused, exit 4)'
            cand replace 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)'
            cand check 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed'
            cand list 'List the pins'
            cand show 'Show one pin (exit 3 if absent)'
            cand remove 'Remove a pin (exit 3 if absent)'
        }
        &'sbrp;help;pin;add'= {
        }
        &'sbrp;help;pin;replace'= {
        }
        &'sbrp;help;pin;check'= {
        }
        &'sbrp;help;pin;list'= {
        }
        &'sbrp;help;pin;show'= {
        }
        &'sbrp;help;pin;remove'= {
        }
        &'sbrp;help;decode'= {
        }
        &'sbrp;help;peer'= {
            cand daemon 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)'
            cand client 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)'
        }
        &'sbrp;help;peer;daemon'= {
        }
        &'sbrp;help;peer;client'= {
        }
        &'sbrp;help;relay'= {
        }
        &'sbrp;help;token'= {
            cand mint 'Sign a relay token with an Ed25519 key file'
            cand inspect 'Decode a token without verifying it, and list every rule it breaks'
            cand verify 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)'
            cand jwks 'Print the JWKS (JSON Web Key Set) of one or more key files'
        }
        &'sbrp;help;token;mint'= {
        }
        &'sbrp;help;token;inspect'= {
        }
        &'sbrp;help;token;verify'= {
        }
        &'sbrp;help;token;jwks'= {
        }
        &'sbrp;help;bench'= {
            cand relay 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions'' memory, handshakes'
        }
        &'sbrp;help;bench;relay'= {
        }
        &'sbrp;help;completions'= {
        }
        &'sbrp;help;man'= {
        }
        &'sbrp;help;help'= {
        }
    ]
    $completions[$command]
}
