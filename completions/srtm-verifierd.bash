# bash completion for srtm-verifierd(8)
_srtm_verifierd()
{
    local cur prev words cword
    _init_completion || return
    case $prev in
        --store | --node | --max-inflight | --timeout-ms | --lease-s | --workers | --http | \
        --webhook)
            return ;;
        --tls-cert | --tls-key | --tls-ca | --webhook-secret | --webhook-ca)
            _filedir
            return ;;
        --log-level)
            COMPREPLY=($(compgen -W "error warn info debug" -- "$cur"))
            return ;;
    esac
    COMPREPLY=($(compgen -W "--store --node --max-inflight --timeout-ms --lease-s --workers --tls-cert --tls-key --tls-ca --http --webhook --webhook-secret --webhook-ca --log-level --help --version" -- "$cur"))
}
complete -F _srtm_verifierd srtm-verifierd
