# bash completion for srtm-verifierd(8)
_srtm_verifierd()
{
    local cur prev words cword
    _init_completion || return
    case $prev in
        --store | --node | --max-inflight | --timeout-ms | --lease-s | --workers)
            return ;;
        --log-level)
            COMPREPLY=($(compgen -W "error warn info debug" -- "$cur"))
            return ;;
    esac
    COMPREPLY=($(compgen -W "--store --node --max-inflight --timeout-ms --lease-s --workers --log-level --help --version" -- "$cur"))
}
complete -F _srtm_verifierd srtm-verifierd
