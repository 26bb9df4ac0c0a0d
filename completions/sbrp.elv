
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
            cand completions 'Print a shell completion script'
            cand man 'Print the manual page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
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
            cand completions 'Print a shell completion script'
            cand man 'Print the manual page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
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
