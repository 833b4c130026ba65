# bash completion for srtmd(8)
_srtmd()
{
    local cur prev words cword
    _init_completion || return
    case $prev in
        --config | --pidfile | --admin-cap | --irk-blob | --lock-file | --tls-cert | --tls-key | \
            --tls-ca)
            _filedir
            return ;;
        --log-level)
            COMPREPLY=($(compgen -W "error warn info debug" -- "$cur"))
            return ;;
        --irk-scheme)
            COMPREPLY=($(compgen -W "mit s1t perboot" -- "$cur"))
            return ;;
        --user)
            COMPREPLY=($(compgen -u -- "$cur"))
            return ;;
    esac
    COMPREPLY=($(compgen -W "$(_parse_help "$1" | sort -u)" -- "$cur"))
}
complete -F _srtmd srtmd
