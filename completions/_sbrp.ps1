
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'sbrp' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'sbrp'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'sbrp' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('selftest', 'selftest', [CompletionResultType]::ParameterValue, 'Run a complete SBRP session in memory and check every defence (exit 0 only if all pass)')
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)')
            [CompletionResult]::new('pubkey', 'pubkey', [CompletionResultType]::ParameterValue, 'Print the public key of a secret key file')
            [CompletionResult]::new('fingerprint', 'fingerprint', [CompletionResultType]::ParameterValue, 'Print the fingerprint or randomart of a public or secret key, or compare fingerprints')
            [CompletionResult]::new('pin', 'pin', [CompletionResultType]::ParameterValue, 'Manage the TOFU pin file (daemon id -> pinned identity key)')
            [CompletionResult]::new('decode', 'decode', [CompletionResultType]::ParameterValue, 'Decode a capture of SBRP frames, and decrypt it given the keys')
            [CompletionResult]::new('peer', 'peer', [CompletionResultType]::ParameterValue, 'A known-good SBRP echo daemon and test client for live interoperability tests')
            [CompletionResult]::new('relay', 'relay', [CompletionResultType]::ParameterValue, 'Run an SBRP relay: authenticate, pair daemons and clients, forward their frames')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Mint, inspect and verify relay tokens (EdDSA JWTs), and print JWKS')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Measure handshakes, AEAD, framing and the streaming decoder')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the manual page (roff)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;selftest' {
            [CompletionResult]::new('--keylog', '--keylog', [CompletionResultType]::ParameterName, 'Append the loopback session''s keys to FILE (key-log format, see FILES), so `sbrp decode --keylog FILE` can decrypt the capture; also enabled by a non-empty SBRP_KEYLOGFILE')
            [CompletionResult]::new('--capture', '--capture', [CompletionResultType]::ParameterName, 'Write every frame of the loopback session to FILE (raw SBRP stream, for `sbrp decode`); an existing FILE is replaced only with --force, a symbolic link never')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (schema sbrp.selftest/1) instead of the checklist')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing --capture file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;keygen' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Where to write the secret key; `-` for stdout [default: <config dir>/identity.pem]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where to write the secret key; `-` for stdout [default: <config dir>/identity.pem]')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Format of the secret key')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing file (atomically; the old key is lost)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report (path, public key, fingerprint, randomart) as one JSON object')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;pubkey' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Read a bare 32-byte value (hex, base64, raw) as an Ed25519 seed (by default it is a public key, printed normalised with a note)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;fingerprint' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--compare', '--compare', [CompletionResultType]::ParameterName, 'Compare with this fingerprint (SHA256:AB:CD:… in any case, or 64 bare hex digits): exit 0 when it matches, 4 when it does not')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;pin' {
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'The pin file [default: <config dir>/pins.json]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Pin a daemon''s identity key (the same key again is a no-op; another key is refused, exit 4)')
            [CompletionResult]::new('replace', 'replace', [CompletionResultType]::ParameterValue, 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the pins')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one pin (exit 3 if absent)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a pin (exit 3 if absent)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;pin;add' {
            [CompletionResult]::new('--comment', '--comment', [CompletionResultType]::ParameterName, 'A note stored with the pin')
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'The pin file [default: <config dir>/pins.json]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the outcome as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;pin;replace' {
            [CompletionResult]::new('--comment', '--comment', [CompletionResultType]::ParameterName, 'A new note (default: keep the old one)')
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'The pin file [default: <config dir>/pins.json]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when stdin is not a terminal)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the outcome as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;pin;check' {
            [CompletionResult]::new('--policy', '--policy', [CompletionResultType]::ParameterName, 'What to do with an unknown daemon')
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'The pin file [default: <config dir>/pins.json]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the outcome as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;pin;list' {
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'The pin file [default: <config dir>/pins.json]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the pin file as JSON (same shape as the file)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;pin;show' {
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'The pin file [default: <config dir>/pins.json]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print it as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;pin;remove' {
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'The pin file [default: <config dir>/pins.json]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds a change waits for the pin file''s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the removed pin as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;pin;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Pin a daemon''s identity key (the same key again is a no-op; another key is refused, exit 4)')
            [CompletionResult]::new('replace', 'replace', [CompletionResultType]::ParameterValue, 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the pins')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one pin (exit 3 if absent)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a pin (exit 3 if absent)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;pin;help;add' {
            break
        }
        'sbrp;pin;help;replace' {
            break
        }
        'sbrp;pin;help;check' {
            break
        }
        'sbrp;pin;help;list' {
            break
        }
        'sbrp;pin;help;show' {
            break
        }
        'sbrp;pin;help;remove' {
            break
        }
        'sbrp;pin;help;help' {
            break
        }
        'sbrp;decode' {
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'Encoding of the input: auto detects a HAR file (starts with `{`), hex text, then base64 text, else raw bytes')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--keylog', '--keylog', [CompletionResultType]::ParameterName, 'Decrypt Data frames with the keys of this key log (format: FILES below)')
            [CompletionResult]::new('--daemon-id', '--daemon-id', [CompletionResultType]::ParameterName, 'The daemon id of the captured handshakes: verifies HandshakeAccept signatures')
            [CompletionResult]::new('--client-ephemeral', '--client-ephemeral', [CompletionResultType]::ParameterName, 'The client''s X25519 ephemeral secret (64 hex digits, or @FILE to read them from a file so the secret stays out of the process list): derive the keys of the captured handshake that used it, then decrypt')
            [CompletionResult]::new('--daemon-ephemeral', '--daemon-ephemeral', [CompletionResultType]::ParameterName, 'The daemon''s X25519 ephemeral secret (64 hex digits or @FILE), as --client-ephemeral')
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'Pin file: say whether the daemon''s identity key matches its pin (needs --daemon-id)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'The same as --format json')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show every field with its offset and length, and a hex dump coloured by field')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show every field with its offset and length, and a hex dump coloured by field')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Exit with status 6 when there is any diagnostic')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;peer' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('daemon', 'daemon', [CompletionResultType]::ParameterValue, 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)')
            [CompletionResult]::new('client', 'client', [CompletionResultType]::ParameterValue, 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;peer;daemon' {
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The daemon''s Ed25519 secret key file (any encoding `sbrp keygen` writes; `-` for stdin); must not be readable by group or others')
            [CompletionResult]::new('--daemon-id', '--daemon-id', [CompletionResultType]::ParameterName, 'The daemon id clients ask for (part of what the daemon signs)')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Serve TCP connections on HOST:PORT instead of stdin/stdout (port 0 picks one; the address is printed on stderr)')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'With --listen: the most connections served at once (more are closed at once)')
            [CompletionResult]::new('--max-sessions', '--max-sessions', [CompletionResultType]::ParameterName, 'The most sessions one connection may hold; a HandshakeInit for a new session beyond it gets no accept (it is logged and counted)')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a connection that sent nothing for this long (0: never); with --relay, then reconnect')
            [CompletionResult]::new('--handshake-rate', '--handshake-rate', [CompletionResultType]::ParameterName, 'Handshakes answered per second on one connection, with a burst of as many (0: no limit); a HandshakeInit over the budget is refused at once, never queued')
            [CompletionResult]::new('--relay', '--relay', [CompletionResultType]::ParameterName, 'Talk through the relay at ws[s]://HOST[:PORT][/PATH] (one SBRP frame per WebSocket message; needs a token)')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the relay token from FILE (re-read at every connection attempt) [env: SBRP_TOKEN holds the token itself]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The relay token itself (visible to other users in the process list: prefer --token-file or SBRP_TOKEN)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'How the token reaches the relay: query (?token=, the default) or header (Authorization: Bearer)')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM FILE for wss:// (instead of the system''s roots)')
            [CompletionResult]::new('--handshake-timeout', '--handshake-timeout', [CompletionResultType]::ParameterName, 'Seconds a handshake may take before it fails with handshake_timeout (0: no limit)')
            [CompletionResult]::new('--keylog', '--keylog', [CompletionResultType]::ParameterName, 'Append the session keys to FILE (for `sbrp decode`); also enabled by a non-empty SBRP_KEYLOGFILE. Anyone who can read FILE can decrypt those sessions')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Echo bare SBRP Data payloads instead of speaking SBP and RPC (for SBRP-only peers)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Log events on stderr as JSON lines (schema sbrp.peer-daemon/1) instead of text')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'With --relay: end when the presence connection ends instead of reconnecting')
            [CompletionResult]::new('--resumable', '--resumable', [CompletionResultType]::ParameterName, 'With --relay: keep the established sessions (keys, counters, replay windows) across a reconnect and resume them (Signal ready), for up to 30 s; the token needs scope session:resume (sbrp token mint --scp session:resume)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;peer;client' {
            [CompletionResult]::new('--daemon-id', '--daemon-id', [CompletionResultType]::ParameterName, 'The daemon id to open a session with (part of what the daemon signs)')
            [CompletionResult]::new('--identity-key', '--identity-key', [CompletionResultType]::ParameterName, 'Expect exactly this identity key (hex, base64, PEM, or a file holding one) instead of using the pin file')
            [CompletionResult]::new('--pins', '--pins', [CompletionResultType]::ParameterName, 'The pin file [default: <config dir>/pins.json]')
            [CompletionResult]::new('--policy', '--policy', [CompletionResultType]::ParameterName, 'What to do with a daemon id that is not pinned: strict refuses (exit 3), accept-new pins it, ask asks on a terminal (and acts as strict otherwise, and always in stdio mode). A changed key always fails (exit 4). [default: strict]')
            [CompletionResult]::new('--session-id', '--session-id', [CompletionResultType]::ParameterName, 'The session id (1 to 2^64−1) [default: random]')
            [CompletionResult]::new('--message', '--message', [CompletionResultType]::ParameterName, 'A message to send (repeatable); its echo must match byte for byte')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Also send N generated messages of sizes from 0 to 65508 bytes')
            [CompletionResult]::new('--connect', '--connect', [CompletionResultType]::ParameterName, 'Connect to HOST:PORT instead of using stdin/stdout')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run CMD (with sh -c) and talk over its stdin/stdout, like ssh''s ProxyCommand. CMD runs in its own process group, ended as a whole when the client ends (so it cannot read the terminal: use ssh keys or an agent, not a password prompt)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for each echo (or Pong); 0: no limit, as for --handshake-timeout')
            [CompletionResult]::new('--call', '--call', [CompletionResultType]::ParameterName, 'Call METHOD over RPC and print the result (repeatable; replaces the echo check)')
            [CompletionResult]::new('--params', '--params', [CompletionResultType]::ParameterName, 'JSON params of the --call it follows (a call without one sends no params)')
            [CompletionResult]::new('--relay', '--relay', [CompletionResultType]::ParameterName, 'Talk through the relay at ws[s]://HOST[:PORT][/PATH] (one SBRP frame per WebSocket message; needs a token)')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the relay token from FILE (re-read at every connection attempt) [env: SBRP_TOKEN holds the token itself]')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The relay token itself (visible to other users in the process list: prefer --token-file or SBRP_TOKEN)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'How the token reaches the relay: query (?token=, the default) or header (Authorization: Bearer)')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'Trust the CA certificates in this PEM FILE for wss:// (instead of the system''s roots)')
            [CompletionResult]::new('--handshake-timeout', '--handshake-timeout', [CompletionResultType]::ParameterName, 'Seconds a handshake may take before it fails with handshake_timeout (0: no limit)')
            [CompletionResult]::new('--keylog', '--keylog', [CompletionResultType]::ParameterName, 'Append the session keys to FILE (for `sbrp decode`); also enabled by a non-empty SBRP_KEYLOGFILE. Anyone who can read FILE can decrypt those sessions')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--ping', '--ping', [CompletionResultType]::ParameterName, 'Send a Ping before the handshake and wait for the Pong')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the summary as JSON (schema sbrp.peer-client/1)')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Exchange bare SBRP Data payloads (echo check) instead of SBP and RPC')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;peer;help' {
            [CompletionResult]::new('daemon', 'daemon', [CompletionResultType]::ParameterValue, 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)')
            [CompletionResult]::new('client', 'client', [CompletionResultType]::ParameterValue, 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;peer;help;daemon' {
            break
        }
        'sbrp;peer;help;client' {
            break
        }
        'sbrp;peer;help;help' {
            break
        }
        'sbrp;relay' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on; port 0 picks a free one (the ready line says which)')
            [CompletionResult]::new('--jwks', '--jwks', [CompletionResultType]::ParameterName, 'The JWKS (JSON Web Key Set) tokens are verified with; re-read when it changes')
            [CompletionResult]::new('--iss', '--iss', [CompletionResultType]::ParameterName, 'The issuer tokens must name (`iss`) [default: any issuer]')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve wss:// with this PEM certificate chain (needs --tls-key)')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The PEM private key of --tls-cert (mode 0600)')
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'R2: seconds a paused session waits for its daemon')
            [CompletionResult]::new('--ping-interval', '--ping-interval', [CompletionResultType]::ParameterName, 'R3: seconds between the relay''s Pings to each endpoint')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'R3: an endpoint silent this many seconds is closed with 1001')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'R4: frames per second per connection')
            [CompletionResult]::new('--burst', '--burst', [CompletionResultType]::ParameterName, 'R4: token-bucket size (frames a connection may send at once)')
            [CompletionResult]::new('--max-queue', '--max-queue', [CompletionResultType]::ParameterName, 'R5: unsent bytes per connection before `backpressure` and close 1013')
            [CompletionResult]::new('--max-total-queue', '--max-total-queue', [CompletionResultType]::ParameterName, 'R5 relay-wide: unsent bytes of all connections together; beyond it the connection with the largest queue gets `backpressure` and close 1013')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Open connections at most (HTTP 503 beyond)')
            [CompletionResult]::new('--max-handshakes', '--max-handshakes', [CompletionResultType]::ParameterName, 'Connections still authenticating (TLS and upgrade not done) at most; a new one beyond it closes the oldest unfinished one')
            [CompletionResult]::new('--max-pending-per-ip', '--max-pending-per-ip', [CompletionResultType]::ParameterName, 'Connections still authenticating per IPv4 address or IPv6 /64; a new one beyond it closes that address''s oldest unfinished one. 0: no cap (behind a proxy, where every connection comes from the proxy''s address)')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Threads serving connections: 1 runs everything on one thread, N > 1 on N, 0 one per CPU')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'The log on stderr: one line per event')
            [CompletionResult]::new('--metrics', '--metrics', [CompletionResultType]::ParameterName, 'Serve Prometheus metrics on this address (GET /metrics, GET /healthz); port 0 picks a free one (the --json ready line says which)')
            [CompletionResult]::new('--capture', '--capture', [CompletionResultType]::ParameterName, 'Write every frame the relay sends to FILE as a raw SBRP stream, for `sbrp decode` (created new, mode 0600)')
            [CompletionResult]::new('--capture-log', '--capture-log', [CompletionResultType]::ParameterName, 'Write one JSON line per frame handled and per connection to FILE (schema sbrp.relay-capture-log/1; created new, mode 0600)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--dev', '--dev', [CompletionResultType]::ParameterName, 'A local deployment to try: listen on 127.0.0.1, make a throwaway issuer key, JWKS and daemon identity in a fresh private directory, print the commands that use them')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing --capture or --capture-log file')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the ready line as JSON (schema sbrp.relay-ready/1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;token' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('mint', 'mint', [CompletionResultType]::ParameterValue, 'Sign a relay token with an Ed25519 key file')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Decode a token without verifying it, and list every rule it breaks')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)')
            [CompletionResult]::new('jwks', 'jwks', [CompletionResultType]::ParameterValue, 'Print the JWKS (JSON Web Key Set) of one or more key files')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;token;mint' {
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Secret key file that signs the token (as `sbrp keygen` writes it), or `-` for stdin')
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'Who the token is for')
            [CompletionResult]::new('--did', '--did', [CompletionResultType]::ParameterName, 'The daemon id the connection is routed to (`did`)')
            [CompletionResult]::new('--sid', '--sid', [CompletionResultType]::ParameterName, 'Session id, decimal or 0x-hex, non-zero (clients only) [default: random]')
            [CompletionResult]::new('--sub', '--sub', [CompletionResultType]::ParameterName, 'Principal (`sub`) [default: the daemon id for daemons, a random `client-…` for clients]')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'Lifetime in seconds [default: 120 for clients (at most 300), 3600 for daemons]')
            [CompletionResult]::new('--iss', '--iss', [CompletionResultType]::ParameterName, 'Issuer (`iss`); a relay checks it against its own --iss')
            [CompletionResult]::new('--aud', '--aud', [CompletionResultType]::ParameterName, 'Audience (`aud`); repeat for several [default: sideband-relay]')
            [CompletionResult]::new('--scp', '--scp', [CompletionResultType]::ParameterName, 'A scope (`scp`); repeat for several. Clients always get `session:create`; give `session:resume` to a daemon that resumes sessions')
            [CompletionResult]::new('--kid', '--kid', [CompletionResultType]::ParameterName, 'Key id in the header [default: the key''s RFC 7638 JWK thumbprint, as `token jwks` lists it]')
            [CompletionResult]::new('--lim-sessions', '--lim-sessions', [CompletionResultType]::ParameterName, '`lim.concurrent_sessions`: the most live sessions (at least 1)')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Relay region the token is bound to (`region`)')
            [CompletionResult]::new('--iat', '--iat', [CompletionResultType]::ParameterName, 'Issue time, Unix seconds [default: now] (for tokens minted ahead, and tests)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write the token to FILE (created 0600) instead of stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write the token to FILE (created 0600) instead of stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing --output file')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON report with the header and claims (schema sbrp.token.mint/1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;token;inspect' {
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the token (`-` for stdin)')
            [CompletionResult]::new('--jwks', '--jwks', [CompletionResultType]::ParameterName, 'Also check the signature against this JWKS file (step 4)')
            [CompletionResult]::new('--iss', '--iss', [CompletionResultType]::ParameterName, 'Expected issuer (`iss`); without it any issuer is accepted (step 6 skipped)')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Relay region (step 13 is skipped without it)')
            [CompletionResult]::new('--at', '--at', [CompletionResultType]::ParameterName, 'Check as if the clock read this time, Unix seconds [default: now]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (schema sbrp.token.inspect/1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;token;verify' {
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the token (`-` for stdin)')
            [CompletionResult]::new('--jwks', '--jwks', [CompletionResultType]::ParameterName, 'JWKS file with the issuer''s public keys (`sbrp token jwks` writes one)')
            [CompletionResult]::new('--aud', '--aud', [CompletionResultType]::ParameterName, 'Required audience')
            [CompletionResult]::new('--iss', '--iss', [CompletionResultType]::ParameterName, 'Expected issuer (`iss`); without it any issuer is accepted (step 6 skipped)')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Relay region (step 13 is skipped without it)')
            [CompletionResult]::new('--at', '--at', [CompletionResultType]::ParameterName, 'Check as if the clock read this time, Unix seconds [default: now]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (schema sbrp.token.verify/1), on failure too')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;token;jwks' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON report (schema sbrp.token.jwks/1) wrapping the JWKS with each key''s source and fingerprint, instead of the bare JWKS')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;token;help' {
            [CompletionResult]::new('mint', 'mint', [CompletionResultType]::ParameterValue, 'Sign a relay token with an Ed25519 key file')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Decode a token without verifying it, and list every rule it breaks')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)')
            [CompletionResult]::new('jwks', 'jwks', [CompletionResultType]::ParameterValue, 'Print the JWKS (JSON Web Key Set) of one or more key files')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;token;help;mint' {
            break
        }
        'sbrp;token;help;inspect' {
            break
        }
        'sbrp;token;help;verify' {
            break
        }
        'sbrp;token;help;jwks' {
            break
        }
        'sbrp;token;help;help' {
            break
        }
        'sbrp;bench' {
            [CompletionResult]::new('--seconds', '--seconds', [CompletionResultType]::ParameterName, 'Seconds per measurement (13 measurements plus 4 per size)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the results as JSON (schema sbrp.bench/1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('relay', 'relay', [CompletionResultType]::ParameterValue, 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions'' memory, handshakes')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;bench;relay' {
            [CompletionResult]::new('--seconds', '--seconds', [CompletionResultType]::ParameterName, 'Seconds per measurement (each size: 2 × this for the throughput rounds and 0.3 × this for round trips; paced: this, at least 1, through the relay and again direct)')
            [CompletionResult]::new('--sessions', '--sessions', [CompletionResultType]::ParameterName, 'Client sessions held open at once in the concurrency phase (the bench raises its own open-file limit, which the relay inherits, to fit them)')
            [CompletionResult]::new('--window', '--window', [CompletionResultType]::ParameterName, 'Messages in flight in the throughput rounds, on both paths (at most 512: in 16 KiB frames, half the relay''s default queue; a fuller queue would measure backpressure)')
            [CompletionResult]::new('--tamper-every', '--tamper-every', [CompletionResultType]::ParameterName, 'Test hook: the bench''s own daemon changes one byte of every Nth echo it sends, which the client must catch (the bench then fails with exit 6)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the results as JSON (schema sbrp.bench-relay/1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;bench;help' {
            [CompletionResult]::new('relay', 'relay', [CompletionResultType]::ParameterValue, 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions'' memory, handshakes')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;bench;help;relay' {
            break
        }
        'sbrp;bench;help;help' {
            break
        }
        'sbrp;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print {"schema": "sbrp.completions/1", "shell", "script"} instead of the bare script')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;man' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print {"schema": "sbrp.man/1", "page", "roff"} instead of the bare page')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'sbrp;help' {
            [CompletionResult]::new('selftest', 'selftest', [CompletionResultType]::ParameterValue, 'Run a complete SBRP session in memory and check every defence (exit 0 only if all pass)')
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)')
            [CompletionResult]::new('pubkey', 'pubkey', [CompletionResultType]::ParameterValue, 'Print the public key of a secret key file')
            [CompletionResult]::new('fingerprint', 'fingerprint', [CompletionResultType]::ParameterValue, 'Print the fingerprint or randomart of a public or secret key, or compare fingerprints')
            [CompletionResult]::new('pin', 'pin', [CompletionResultType]::ParameterValue, 'Manage the TOFU pin file (daemon id -> pinned identity key)')
            [CompletionResult]::new('decode', 'decode', [CompletionResultType]::ParameterValue, 'Decode a capture of SBRP frames, and decrypt it given the keys')
            [CompletionResult]::new('peer', 'peer', [CompletionResultType]::ParameterValue, 'A known-good SBRP echo daemon and test client for live interoperability tests')
            [CompletionResult]::new('relay', 'relay', [CompletionResultType]::ParameterValue, 'Run an SBRP relay: authenticate, pair daemons and clients, forward their frames')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Mint, inspect and verify relay tokens (EdDSA JWTs), and print JWKS')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Measure handshakes, AEAD, framing and the streaming decoder')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the manual page (roff)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sbrp;help;selftest' {
            break
        }
        'sbrp;help;keygen' {
            break
        }
        'sbrp;help;pubkey' {
            break
        }
        'sbrp;help;fingerprint' {
            break
        }
        'sbrp;help;pin' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Pin a daemon''s identity key (the same key again is a no-op; another key is refused, exit 4)')
            [CompletionResult]::new('replace', 'replace', [CompletionResultType]::ParameterValue, 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the pins')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one pin (exit 3 if absent)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a pin (exit 3 if absent)')
            break
        }
        'sbrp;help;pin;add' {
            break
        }
        'sbrp;help;pin;replace' {
            break
        }
        'sbrp;help;pin;check' {
            break
        }
        'sbrp;help;pin;list' {
            break
        }
        'sbrp;help;pin;show' {
            break
        }
        'sbrp;help;pin;remove' {
            break
        }
        'sbrp;help;decode' {
            break
        }
        'sbrp;help;peer' {
            [CompletionResult]::new('daemon', 'daemon', [CompletionResultType]::ParameterValue, 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)')
            [CompletionResult]::new('client', 'client', [CompletionResultType]::ParameterValue, 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)')
            break
        }
        'sbrp;help;peer;daemon' {
            break
        }
        'sbrp;help;peer;client' {
            break
        }
        'sbrp;help;relay' {
            break
        }
        'sbrp;help;token' {
            [CompletionResult]::new('mint', 'mint', [CompletionResultType]::ParameterValue, 'Sign a relay token with an Ed25519 key file')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Decode a token without verifying it, and list every rule it breaks')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)')
            [CompletionResult]::new('jwks', 'jwks', [CompletionResultType]::ParameterValue, 'Print the JWKS (JSON Web Key Set) of one or more key files')
            break
        }
        'sbrp;help;token;mint' {
            break
        }
        'sbrp;help;token;inspect' {
            break
        }
        'sbrp;help;token;verify' {
            break
        }
        'sbrp;help;token;jwks' {
            break
        }
        'sbrp;help;bench' {
            [CompletionResult]::new('relay', 'relay', [CompletionResultType]::ParameterValue, 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions'' memory, handshakes')
            break
        }
        'sbrp;help;bench;relay' {
            break
        }
        'sbrp;help;completions' {
            break
        }
        'sbrp;help;man' {
            break
        }
        'sbrp;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
