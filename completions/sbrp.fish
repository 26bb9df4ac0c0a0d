# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sbrp_global_optspecs
    string join \n color= h/help V/version
end

function __fish_sbrp_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sbrp_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sbrp_using_subcommand
    set -l cmd (__fish_sbrp_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sbrp -n "__fish_sbrp_needs_command" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_needs_command" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "selftest" -d 'Run a complete SBRP session in memory and check every defence (exit 0 only if all pass)'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "keygen" -d 'Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "pubkey" -d 'Print the public key of a secret key file'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "fingerprint" -d 'Print the fingerprint or randomart of a public or secret key, or compare fingerprints'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "pin" -d 'Manage the TOFU pin file (daemon id -> pinned identity key)'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "decode" -d 'Decode a capture of SBRP frames, and decrypt it given the keys'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "peer" -d 'A known-good SBRP echo daemon and test client for live interoperability tests'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "relay" -d 'Run an SBRP relay: authenticate, pair daemons and clients, forward their frames'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "token" -d 'Mint, inspect and verify relay tokens (EdDSA JWTs), and print JWKS'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "bench" -d 'Measure handshakes, AEAD, framing and the streaming decoder'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "man" -d 'Print the manual page (roff)'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand selftest" -l keylog -d 'Append the loopback session\'s keys to FILE (key-log format, see FILES), so `sbrp decode --keylog FILE` can decrypt the capture; also enabled by a non-empty SBRP_KEYLOGFILE' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand selftest" -l capture -d 'Write every frame of the loopback session to FILE (raw SBRP stream, for `sbrp decode`); an existing FILE is replaced only with --force, a symbolic link never' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand selftest" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand selftest" -l json -d 'Print one JSON object (schema sbrp.selftest/1) instead of the checklist'
complete -c sbrp -n "__fish_sbrp_using_subcommand selftest" -l force -d 'Replace an existing --capture file'
complete -c sbrp -n "__fish_sbrp_using_subcommand selftest" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand selftest" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand keygen" -s o -l output -d 'Where to write the secret key; `-` for stdout [default: <config dir>/identity.pem]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand keygen" -l format -d 'Format of the secret key' -r -f -a "pem\t'PKCS#8 PEM ("PRIVATE KEY"), readable by OpenSSL'
hex\t'128 hex characters: seed then public key'
base64\t'88 base64 characters: seed then public key'
json\t'JSON object {"schema": "sbrp.identity/1", "secret_key", "public_key", "fingerprint"}'"
complete -c sbrp -n "__fish_sbrp_using_subcommand keygen" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand keygen" -l force -d 'Replace an existing file (atomically; the old key is lost)'
complete -c sbrp -n "__fish_sbrp_using_subcommand keygen" -l json -d 'Print the report (path, public key, fingerprint, randomart) as one JSON object'
complete -c sbrp -n "__fish_sbrp_using_subcommand keygen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand keygen" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pubkey" -l format -d 'Output format' -r -f -a "base64\t'Standard base64 (44 characters), the form of the pin file'
hex\t'64 hex characters'
pem\t'SubjectPublicKeyInfo PEM ("PUBLIC KEY"), as `openssl pkey -pubout` writes'
json\t'{"schema": "sbrp.pubkey/1", "public_key", "fingerprint", "encoding"}'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pubkey" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pubkey" -l json -d 'Same as --format json'
complete -c sbrp -n "__fish_sbrp_using_subcommand pubkey" -l seed -d 'Read a bare 32-byte value (hex, base64, raw) as an Ed25519 seed (by default it is a public key, printed normalised with a note)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pubkey" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand pubkey" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand fingerprint" -l format -d 'Output format' -r -f -a "fingerprint\t'SHA256:AB:CD:… (the reference form, 102 characters)'
randomart\t'The OpenSSH "drunken bishop" picture of the key\'s SHA-256 digest (17×9)'
json\t'{"schema": "sbrp.fingerprint/1", "public_key", "fingerprint", "randomart", "encoding"}'"
complete -c sbrp -n "__fish_sbrp_using_subcommand fingerprint" -l compare -d 'Compare with this fingerprint (SHA256:AB:CD:… in any case, or 64 bare hex digits): exit 0 when it matches, 4 when it does not' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand fingerprint" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand fingerprint" -l json -d 'Same as --format json'
complete -c sbrp -n "__fish_sbrp_using_subcommand fingerprint" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand fingerprint" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -l pins -d 'The pin file [default: <config dir>/pins.json]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -l wait -d 'Seconds a change waits for the pin file\'s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -f -a "add" -d 'Pin a daemon\'s identity key (the same key again is a no-op; another key is refused, exit 4)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -f -a "replace" -d 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -f -a "check" -d 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -f -a "list" -d 'List the pins'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -f -a "show" -d 'Show one pin (exit 3 if absent)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -f -a "remove" -d 'Remove a pin (exit 3 if absent)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and not __fish_seen_subcommand_from add replace check list show remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from add" -l comment -d 'A note stored with the pin' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from add" -l pins -d 'The pin file [default: <config dir>/pins.json]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from add" -l wait -d 'Seconds a change waits for the pin file\'s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from add" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from add" -l json -d 'Print the outcome as JSON'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from replace" -l comment -d 'A new note (default: keep the old one)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from replace" -l pins -d 'The pin file [default: <config dir>/pins.json]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from replace" -l wait -d 'Seconds a change waits for the pin file\'s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from replace" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from replace" -s y -l yes -d 'Do not ask for confirmation (required when stdin is not a terminal)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from replace" -l json -d 'Print the outcome as JSON'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from replace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from replace" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from check" -l policy -d 'What to do with an unknown daemon' -r -f -a "strict\t'Unknown daemons are refused (exit 3)'
accept-new\t'Unknown daemons are pinned on first use'
ask\t'Ask on a terminal (yes / no / paste the expected fingerprint); strict otherwise'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from check" -l pins -d 'The pin file [default: <config dir>/pins.json]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from check" -l wait -d 'Seconds a change waits for the pin file\'s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from check" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from check" -l json -d 'Print the outcome as JSON'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from list" -l pins -d 'The pin file [default: <config dir>/pins.json]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from list" -l wait -d 'Seconds a change waits for the pin file\'s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from list" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from list" -l json -d 'Print the pin file as JSON (same shape as the file)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from show" -l pins -d 'The pin file [default: <config dir>/pins.json]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from show" -l wait -d 'Seconds a change waits for the pin file\'s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from show" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from show" -l json -d 'Print it as JSON'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from remove" -l pins -d 'The pin file [default: <config dir>/pins.json]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from remove" -l wait -d 'Seconds a change waits for the pin file\'s lock (held by another sbrp) before it gives up with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from remove" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from remove" -l json -d 'Print the removed pin as JSON'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from help" -f -a "add" -d 'Pin a daemon\'s identity key (the same key again is a no-op; another key is refused, exit 4)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from help" -f -a "replace" -d 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the pins'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one pin (exit 3 if absent)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a pin (exit 3 if absent)'
complete -c sbrp -n "__fish_sbrp_using_subcommand pin; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l input -d 'Encoding of the input: auto detects a HAR file (starts with `{`), hex text, then base64 text, else raw bytes' -r -f -a "auto\t'Detect: hex text, else base64 text, else raw bytes'
raw\t'Raw bytes, as on the wire'
hex\t'Hex digits (whitespace, newlines, `0x` prefixes and `#` comments allowed)'
base64\t'Base64, standard or URL-safe (whitespace, newlines and `#` comments allowed)'
har\t'A browser\'s HAR file: the binary messages of its WebSockets (auto: input starting `{`)'"
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l format -d 'Output format' -r -f -a "text\t'One line per frame, then a summary'
json\t'One JSON document: `{"schema", "frames": [...], "summary": {...}}`'
ndjson\t'One JSON object per line: one per frame, then the summary'"
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l keylog -d 'Decrypt Data frames with the keys of this key log (format: FILES below)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l daemon-id -d 'The daemon id of the captured handshakes: verifies HandshakeAccept signatures' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l client-ephemeral -d 'The client\'s X25519 ephemeral secret (64 hex digits, or @FILE to read them from a file so the secret stays out of the process list): derive the keys of the captured handshake that used it, then decrypt' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l daemon-ephemeral -d 'The daemon\'s X25519 ephemeral secret (64 hex digits or @FILE), as --client-ephemeral' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l pins -d 'Pin file: say whether the daemon\'s identity key matches its pin (needs --daemon-id)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l json -d 'The same as --format json'
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -s v -l verbose -d 'Show every field with its offset and length, and a hex dump coloured by field'
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -l strict -d 'Exit with status 6 when there is any diagnostic'
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand decode" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and not __fish_seen_subcommand_from daemon client help" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and not __fish_seen_subcommand_from daemon client help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and not __fish_seen_subcommand_from daemon client help" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and not __fish_seen_subcommand_from daemon client help" -f -a "daemon" -d 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and not __fish_seen_subcommand_from daemon client help" -f -a "client" -d 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and not __fish_seen_subcommand_from daemon client help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l key -d 'The daemon\'s Ed25519 secret key file (any encoding `sbrp keygen` writes; `-` for stdin); must not be readable by group or others' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l daemon-id -d 'The daemon id clients ask for (part of what the daemon signs)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l listen -d 'Serve TCP connections on HOST:PORT instead of stdin/stdout (port 0 picks one; the address is printed on stderr)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l max-connections -d 'With --listen: the most connections served at once (more are closed at once)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l max-sessions -d 'The most sessions one connection may hold; a HandshakeInit for a new session beyond it gets no accept (it is logged and counted)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l idle-timeout -d 'Close a connection that sent nothing for this long (0: never); with --relay, then reconnect' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l handshake-rate -d 'Handshakes answered per second on one connection, with a burst of as many (0: no limit); a HandshakeInit over the budget is refused at once, never queued' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l relay -d 'Talk through the relay at ws[s]://HOST[:PORT][/PATH] (one SBRP frame per WebSocket message; needs a token)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l token-file -d 'Read the relay token from FILE (re-read at every connection attempt) [env: SBRP_TOKEN holds the token itself]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l token -d 'The relay token itself (visible to other users in the process list: prefer --token-file or SBRP_TOKEN)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l auth -d 'How the token reaches the relay: query (?token=, the default) or header (Authorization: Bearer)' -r -f -a "query\t'`?token=<jwt>` on the URL (what browsers do)'
header\t'`Authorization: Bearer <jwt>`'"
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l ca -d 'Trust the CA certificates in this PEM FILE for wss:// (instead of the system\'s roots)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l handshake-timeout -d 'Seconds a handshake may take before it fails with handshake_timeout (0: no limit)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l keylog -d 'Append the session keys to FILE (for `sbrp decode`); also enabled by a non-empty SBRP_KEYLOGFILE. Anyone who can read FILE can decrypt those sessions' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l raw -d 'Echo bare SBRP Data payloads instead of speaking SBP and RPC (for SBRP-only peers)'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l json -d 'Log events on stderr as JSON lines (schema sbrp.peer-daemon/1) instead of text'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l once -d 'With --relay: end when the presence connection ends instead of reconnecting'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -l resumable -d 'With --relay: keep the established sessions (keys, counters, replay windows) across a reconnect and resume them (Signal ready), for up to 30 s; the token needs scope session:resume (sbrp token mint --scp session:resume)'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -s q -l quiet -d 'Print only errors on stderr'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from daemon" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l daemon-id -d 'The daemon id to open a session with (part of what the daemon signs)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l identity-key -d 'Expect exactly this identity key (hex, base64, PEM, or a file holding one) instead of using the pin file' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l pins -d 'The pin file [default: <config dir>/pins.json]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l policy -d 'What to do with a daemon id that is not pinned: strict refuses (exit 3), accept-new pins it, ask asks on a terminal (and acts as strict otherwise, and always in stdio mode). A changed key always fails (exit 4). [default: strict]' -r -f -a "strict\t'Unknown daemons are refused (exit 3)'
accept-new\t'Unknown daemons are pinned on first use'
ask\t'Ask on a terminal (yes / no / paste the expected fingerprint); strict otherwise'"
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l session-id -d 'The session id (1 to 2^64−1) [default: random]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l message -d 'A message to send (repeatable); its echo must match byte for byte' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l count -d 'Also send N generated messages of sizes from 0 to 65508 bytes' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l connect -d 'Connect to HOST:PORT instead of using stdin/stdout' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l exec -d 'Run CMD (with sh -c) and talk over its stdin/stdout, like ssh\'s ProxyCommand. CMD runs in its own process group, ended as a whole when the client ends (so it cannot read the terminal: use ssh keys or an agent, not a password prompt)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l timeout -d 'Seconds to wait for each echo (or Pong); 0: no limit, as for --handshake-timeout' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l call -d 'Call METHOD over RPC and print the result (repeatable; replaces the echo check)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l params -d 'JSON params of the --call it follows (a call without one sends no params)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l relay -d 'Talk through the relay at ws[s]://HOST[:PORT][/PATH] (one SBRP frame per WebSocket message; needs a token)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l token-file -d 'Read the relay token from FILE (re-read at every connection attempt) [env: SBRP_TOKEN holds the token itself]' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l token -d 'The relay token itself (visible to other users in the process list: prefer --token-file or SBRP_TOKEN)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l auth -d 'How the token reaches the relay: query (?token=, the default) or header (Authorization: Bearer)' -r -f -a "query\t'`?token=<jwt>` on the URL (what browsers do)'
header\t'`Authorization: Bearer <jwt>`'"
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l ca -d 'Trust the CA certificates in this PEM FILE for wss:// (instead of the system\'s roots)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l handshake-timeout -d 'Seconds a handshake may take before it fails with handshake_timeout (0: no limit)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l keylog -d 'Append the session keys to FILE (for `sbrp decode`); also enabled by a non-empty SBRP_KEYLOGFILE. Anyone who can read FILE can decrypt those sessions' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l ping -d 'Send a Ping before the handshake and wait for the Pong'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l json -d 'Print the summary as JSON (schema sbrp.peer-client/1)'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -l raw -d 'Exchange bare SBRP Data payloads (echo check) instead of SBP and RPC'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -s q -l quiet -d 'Print only errors on stderr'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from client" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from help" -f -a "daemon" -d 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from help" -f -a "client" -d 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)'
complete -c sbrp -n "__fish_sbrp_using_subcommand peer; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l listen -d 'Address to listen on; port 0 picks a free one (the ready line says which)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l jwks -d 'The JWKS (JSON Web Key Set) tokens are verified with; re-read when it changes' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l iss -d 'The issuer tokens must name (`iss`) [default: any issuer]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l tls-cert -d 'Serve wss:// with this PEM certificate chain (needs --tls-key)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l tls-key -d 'The PEM private key of --tls-cert (mode 0600)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l grace -d 'R2: seconds a paused session waits for its daemon' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l ping-interval -d 'R3: seconds between the relay\'s Pings to each endpoint' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l idle-timeout -d 'R3: an endpoint silent this many seconds is closed with 1001' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l rate -d 'R4: frames per second per connection' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l burst -d 'R4: token-bucket size (frames a connection may send at once)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l max-queue -d 'R5: unsent bytes per connection before `backpressure` and close 1013' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l max-total-queue -d 'R5 relay-wide: unsent bytes of all connections together; beyond it the connection with the largest queue gets `backpressure` and close 1013' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l max-connections -d 'Open connections at most (HTTP 503 beyond)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l max-handshakes -d 'Connections still authenticating (TLS and upgrade not done) at most; a new one beyond it closes the oldest unfinished one' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l max-pending-per-ip -d 'Connections still authenticating per IPv4 address or IPv6 /64; a new one beyond it closes that address\'s oldest unfinished one. 0: no cap (behind a proxy, where every connection comes from the proxy\'s address)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l threads -d 'Threads serving connections: 1 runs everything on one thread, N > 1 on N, 0 one per CPU' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l log-format -d 'The log on stderr: one line per event' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event'"
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l metrics -d 'Serve Prometheus metrics on this address (GET /metrics, GET /healthz); port 0 picks a free one (the --json ready line says which)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l capture -d 'Write every frame the relay sends to FILE as a raw SBRP stream, for `sbrp decode` (created new, mode 0600)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l capture-log -d 'Write one JSON line per frame handled and per connection to FILE (schema sbrp.relay-capture-log/1; created new, mode 0600)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l dev -d 'A local deployment to try: listen on 127.0.0.1, make a throwaway issuer key, JWKS and daemon identity in a fresh private directory, print the commands that use them'
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l force -d 'Replace an existing --capture or --capture-log file'
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -l json -d 'Print the ready line as JSON (schema sbrp.relay-ready/1)'
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand relay" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and not __fish_seen_subcommand_from mint inspect verify jwks help" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and not __fish_seen_subcommand_from mint inspect verify jwks help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and not __fish_seen_subcommand_from mint inspect verify jwks help" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and not __fish_seen_subcommand_from mint inspect verify jwks help" -f -a "mint" -d 'Sign a relay token with an Ed25519 key file'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and not __fish_seen_subcommand_from mint inspect verify jwks help" -f -a "inspect" -d 'Decode a token without verifying it, and list every rule it breaks'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and not __fish_seen_subcommand_from mint inspect verify jwks help" -f -a "verify" -d 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and not __fish_seen_subcommand_from mint inspect verify jwks help" -f -a "jwks" -d 'Print the JWKS (JSON Web Key Set) of one or more key files'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and not __fish_seen_subcommand_from mint inspect verify jwks help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l key -d 'Secret key file that signs the token (as `sbrp keygen` writes it), or `-` for stdin' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l role -d 'Who the token is for' -r -f -a "daemon\t'A daemon\'s presence token (no sid)'
client\t'A client\'s session token (with a sid)'"
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l did -d 'The daemon id the connection is routed to (`did`)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l sid -d 'Session id, decimal or 0x-hex, non-zero (clients only) [default: random]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l sub -d 'Principal (`sub`) [default: the daemon id for daemons, a random `client-…` for clients]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l ttl -d 'Lifetime in seconds [default: 120 for clients (at most 300), 3600 for daemons]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l iss -d 'Issuer (`iss`); a relay checks it against its own --iss' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l aud -d 'Audience (`aud`); repeat for several [default: sideband-relay]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l scp -d 'A scope (`scp`); repeat for several. Clients always get `session:create`; give `session:resume` to a daemon that resumes sessions' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l kid -d 'Key id in the header [default: the key\'s RFC 7638 JWK thumbprint, as `token jwks` lists it]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l lim-sessions -d '`lim.concurrent_sessions`: the most live sessions (at least 1)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l region -d 'Relay region the token is bound to (`region`)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l iat -d 'Issue time, Unix seconds [default: now] (for tokens minted ahead, and tests)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -s o -l output -d 'Write the token to FILE (created 0600) instead of stdout' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l force -d 'Replace an existing --output file'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -l json -d 'Print a JSON report with the header and claims (schema sbrp.token.mint/1)'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from mint" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -l token-file -d 'File holding the token (`-` for stdin)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -l jwks -d 'Also check the signature against this JWKS file (step 4)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -l iss -d 'Expected issuer (`iss`); without it any issuer is accepted (step 6 skipped)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -l region -d 'Relay region (step 13 is skipped without it)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -l at -d 'Check as if the clock read this time, Unix seconds [default: now]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -l json -d 'Print JSON (schema sbrp.token.inspect/1)'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from inspect" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -l token-file -d 'File holding the token (`-` for stdin)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -l jwks -d 'JWKS file with the issuer\'s public keys (`sbrp token jwks` writes one)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -l aud -d 'Required audience' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -l iss -d 'Expected issuer (`iss`); without it any issuer is accepted (step 6 skipped)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -l region -d 'Relay region (step 13 is skipped without it)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -l at -d 'Check as if the clock read this time, Unix seconds [default: now]' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -l json -d 'Print JSON (schema sbrp.token.verify/1), on failure too'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from jwks" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from jwks" -l json -d 'Print a JSON report (schema sbrp.token.jwks/1) wrapping the JWKS with each key\'s source and fingerprint, instead of the bare JWKS'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from jwks" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from jwks" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "mint" -d 'Sign a relay token with an Ed25519 key file'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Decode a token without verifying it, and list every rule it breaks'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "jwks" -d 'Print the JWKS (JSON Web Key Set) of one or more key files'
complete -c sbrp -n "__fish_sbrp_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and not __fish_seen_subcommand_from relay help" -l seconds -d 'Seconds per measurement (13 measurements plus 4 per size)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and not __fish_seen_subcommand_from relay help" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and not __fish_seen_subcommand_from relay help" -l json -d 'Print the results as JSON (schema sbrp.bench/1)'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and not __fish_seen_subcommand_from relay help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and not __fish_seen_subcommand_from relay help" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and not __fish_seen_subcommand_from relay help" -f -a "relay" -d 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions\' memory, handshakes'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and not __fish_seen_subcommand_from relay help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from relay" -l seconds -d 'Seconds per measurement (each size: 2 × this for the throughput rounds and 0.3 × this for round trips; paced: this, at least 1, through the relay and again direct)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from relay" -l sessions -d 'Client sessions held open at once in the concurrency phase (the bench raises its own open-file limit, which the relay inherits, to fit them)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from relay" -l window -d 'Messages in flight in the throughput rounds, on both paths (at most 512: in 16 KiB frames, half the relay\'s default queue; a fuller queue would measure backpressure)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from relay" -l tamper-every -d 'Test hook: the bench\'s own daemon changes one byte of every Nth echo it sends, which the client must catch (the bench then fails with exit 6)' -r
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from relay" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from relay" -l json -d 'Print the results as JSON (schema sbrp.bench-relay/1)'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from relay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from relay" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "relay" -d 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions\' memory, handshakes'
complete -c sbrp -n "__fish_sbrp_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand completions" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand completions" -l json -d 'Print {"schema": "sbrp.completions/1", "shell", "script"} instead of the bare script'
complete -c sbrp -n "__fish_sbrp_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand completions" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand man" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand man" -l json -d 'Print {"schema": "sbrp.man/1", "page", "roff"} instead of the bare page'
complete -c sbrp -n "__fish_sbrp_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand man" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "selftest" -d 'Run a complete SBRP session in memory and check every defence (exit 0 only if all pass)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "keygen" -d 'Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "pubkey" -d 'Print the public key of a secret key file'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "fingerprint" -d 'Print the fingerprint or randomart of a public or secret key, or compare fingerprints'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "pin" -d 'Manage the TOFU pin file (daemon id -> pinned identity key)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "decode" -d 'Decode a capture of SBRP frames, and decrypt it given the keys'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "peer" -d 'A known-good SBRP echo daemon and test client for live interoperability tests'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "relay" -d 'Run an SBRP relay: authenticate, pair daemons and clients, forward their frames'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "token" -d 'Mint, inspect and verify relay tokens (EdDSA JWTs), and print JWKS'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "bench" -d 'Measure handshakes, AEAD, framing and the streaming decoder'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "man" -d 'Print the manual page (roff)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from selftest keygen pubkey fingerprint pin decode peer relay token bench completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from pin" -f -a "add" -d 'Pin a daemon\'s identity key (the same key again is a no-op; another key is refused, exit 4)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from pin" -f -a "replace" -d 'Approve a key change: replace the pinned key of a daemon (asks unless --yes)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from pin" -f -a "check" -d 'Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from pin" -f -a "list" -d 'List the pins'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from pin" -f -a "show" -d 'Show one pin (exit 3 if absent)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from pin" -f -a "remove" -d 'Remove a pin (exit 3 if absent)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from peer" -f -a "daemon" -d 'Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from peer" -f -a "client" -d 'Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "mint" -d 'Sign a relay token with an Ed25519 key file'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "inspect" -d 'Decode a token without verifying it, and list every rule it breaks'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "verify" -d 'Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "jwks" -d 'Print the JWKS (JSON Web Key Set) of one or more key files'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "relay" -d 'Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1: throughput, round trips, 10,000 sessions\' memory, handshakes'
