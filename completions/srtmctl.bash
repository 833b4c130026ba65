# bash completion for srtmctl(1)
_srtmctl()
{
    local cur prev words cword
    _init_completion || return
    local commands="register extend read log list depend undepend revert terminate graph quote verify state status show policy"
    case $prev in
        --cap | --cap-out | --file | -o | --aik | --policy | --export-tpm | --ear | --reference | --state | \
            --tls-cert | --tls-key | --tls-ca)
            _filedir
            return ;;
        --socket | --timeout | --tls-server-name | --digest | --data | --desc | --nonce | \
            --parent | --on | \
            --actor | --to | --ccrs | --event-type | --depends-on | --reversible | --from)
            return ;;
    esac
    local i cmd=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket | --cap | --timeout | --tls-*) ((i++)) ;;
            -*) ;;
            *) cmd=${words[i]}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--socket --cap --json --timeout --tls-cert --tls-key --tls-ca --tls-server-name --help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi
    local opts="--help"
    case $cmd in
        register) opts+=" --parent --depends-on --ccrs --reversible --cap-out" ;;
        extend) opts+=" --digest --file --data --desc --event-type" ;;
        log) opts+=" --from" ;;
        depend | undepend) opts+=" --on --actor" ;;
        revert) opts+=" --to --actor" ;;
        graph) opts+=" --dot" ;;
        quote) opts+=" --nonce -o --export-tpm" ;;
        verify) opts+=" --aik --policy --nonce --ear -o --state"
            [[ $cur != -* ]] && { _filedir; return; } ;;
        state) opts+=" --policy"
            [[ $cur != -* ]] && { _filedir; return; } ;;
    esac
    [[ $cur == -* ]] && COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _srtmctl srtmctl
