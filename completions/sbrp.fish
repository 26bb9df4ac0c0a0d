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
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "man" -d 'Print the manual page (roff)'
complete -c sbrp -n "__fish_sbrp_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sbrp -n "__fish_sbrp_using_subcommand completions" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand completions" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand man" -l write-all -d 'Write every page into this directory instead (used to refresh `docs/man/`)' -r -F
complete -c sbrp -n "__fish_sbrp_using_subcommand man" -l color -d 'When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb), always, never. JSON is never coloured' -r -f -a "auto\t'Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`'
always\t'Always colour human-readable output (never JSON)'
never\t'Never colour'"
complete -c sbrp -n "__fish_sbrp_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sbrp -n "__fish_sbrp_using_subcommand man" -s V -l version -d 'Print version'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from completions man help" -f -a "man" -d 'Print the manual page (roff)'
complete -c sbrp -n "__fish_sbrp_using_subcommand help; and not __fish_seen_subcommand_from completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
