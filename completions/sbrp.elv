
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
            cand keygen 'Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)'
            cand pubkey 'Print the public key of a secret key file'
            cand fingerprint 'Print the fingerprint or randomart of a public or secret key, or compare fingerprints'
            cand pin 'Manage the TOFU pin file (daemon id -> pinned identity key)'
            cand completions 'Print a shell completion script'
            cand man 'Print the manual page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
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
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print the outcome as JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;list'= {
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print the pin file as JSON (same shape as the file)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;show'= {
            cand --pins 'The pin file [default: <config dir>/pins.json]'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand --json 'Print it as JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;pin;remove'= {
            cand --pins 'The pin file [default: <config dir>/pins.json]'
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
        &'sbrp;completions'= {
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;man'= {
            cand --write-all 'Write every page into this directory instead (used to refresh `docs/man/`)'
            cand --color 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sbrp;help'= {
            cand keygen 'Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)'
            cand pubkey 'Print the public key of a secret key file'
            cand fingerprint 'Print the fingerprint or randomart of a public or secret key, or compare fingerprints'
            cand pin 'Manage the TOFU pin file (daemon id -> pinned identity key)'
            cand completions 'Print a shell completion script'
            cand man 'Print the manual page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
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
        &'sbrp;help;completions'= {
        }
        &'sbrp;help;man'= {
        }
        &'sbrp;help;help'= {
        }
    ]
    $completions[$command]
}
