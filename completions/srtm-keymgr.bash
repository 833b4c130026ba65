# bash completion for srtm-keymgr(8)
_srtm_keymgr()
{
    local cur prev words cword
    _init_completion || return
    case $prev in
        --aik-pem | --aik-public | --srtmd | --config | -o | --reference | --reference-out)
            _filedir
            return ;;
        --tcti | --aik-handle | --srtm-pcr | --proof-pcrs | --srtm-pcr-base | -P | --owner-auth)
            return ;;
    esac
    local i cmd=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in enroll | predict | wrap-irk | rewrap) cmd=${words[i]} ;; esac
    done
    if [[ -z $cmd && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "enroll predict wrap-irk rewrap" -- "$cur"))
        return
    fi
    local opts="--tcti --help --version"
    case $cmd in
        enroll) opts+=" --aik-pem --aik-public --aik-handle --reuse --force -P" ;;
        predict) opts+=" --srtmd --config --srtm-pcr --proof-pcrs --srtm-pcr-base -o --force" ;;
        wrap-irk) opts+=" --reference -o --force -P" ;;
        rewrap) opts+=" --srtmd --config --srtm-pcr --proof-pcrs --srtm-pcr-base -o --reference-out --force -P" ;;
    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _srtm_keymgr srtm-keymgr
