# Completion for flux: each Tab asks flux itself (FLUX_COMPLETE=bash flux -- words...).
_flux_dynamic_complete() {
    local IFS=$'\013'
    # Readline splits `fn=cr` into `fn`, `=`, `cr`: join them back for flux.
    local -a words=()
    local i word last
    for ((i = 0; i <= COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        last=$((${#words[@]} - 1))
        if ((last >= 0)) && [[ $word == "=" || ${words[last]} == *= ]]; then
            words[last]+=$word
        else
            words+=("$word")
        fi
    done
    local current=${words[${#words[@]} - 1]} strip=
    # What readline replaces is only the part after the last `=`.
    [[ $current == *"$2" ]] && strip=${current%"$2"}
    COMPREPLY=($(
        _CLAP_IFS="$IFS"         _CLAP_COMPLETE_INDEX=$((${#words[@]} - 1))         FLUX_COMPLETE="bash"         flux -- "${words[@]}" 2>/dev/null
    ))
    if [[ $? != 0 ]]; then
        unset COMPREPLY
        return
    fi
    COMPREPLY=("${COMPREPLY[@]#"$strip"}")
    # A `key=` or a folder is completed without a space, so the rest can follow.
    [[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} =~ [=/]$ ]] && compopt -o nospace 2>/dev/null
    return 0
}
complete -o nosort -F _flux_dynamic_complete flux 2>/dev/null ||
    complete -F _flux_dynamic_complete flux
