# bash completion for srtm-launch(8)
_srtm_launch()
{
    local cur prev words cword
    _init_completion || return
    case $prev in
        --config | --srtmd | --)
            _filedir
            return ;;
        --tcti | --srtm-pcr)
            return ;;
    esac
    COMPREPLY=($(compgen -W "--config --tcti --srtm-pcr --close --print --srtmd --help --version" -- "$cur"))
}
complete -F _srtm_launch srtm-launch
