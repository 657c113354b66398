
set edit:completion:arg-completer[flux] = { |@words|
    var index = (count $words)
    set index = (- $index 1)

    put (env _CLAP_IFS="\n" _CLAP_COMPLETE_INDEX=(to-string $index) FLUX_COMPLETE="elvish" flux -- $@words) | to-lines
}
