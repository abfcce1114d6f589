using System.CommandLine;

namespace TransparentSocks.Cli.Commands;

/// <summary>
/// <c>completion bash</c>. The script asks the program itself through System.CommandLine's [suggest] directive, so
/// completions always match the command tree of the installed binary.
/// </summary>
internal static class CompletionCommand
{
    public const string BashScript = """
        # bash completion for transparentsocks
        # Install: transparentsocks completion bash > /etc/bash_completion.d/transparentsocks
        _transparentsocks() {
            local cur="${COMP_WORDS[COMP_CWORD]}"
            local line="${COMP_LINE:0:COMP_POINT}"
            # The program is dropped so that the completion is the same whatever path it was called by.
            line="${line#"${COMP_WORDS[0]}"}"
            line="${line#"${line%%[![:space:]]*}"}"
            local IFS=$'\n'
            local candidates
            candidates="$("${COMP_WORDS[0]}" "[suggest:${#line}]" "$line" 2>/dev/null)" || return 0
            COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
        }
        complete -o default -F _transparentsocks transparentsocks
        """;

    public static Command Create()
    {
        var bash = new Command("bash", """
            Print a bash completion script.

            Examples:
              source <(transparentsocks completion bash)
              transparentsocks completion bash > /etc/bash_completion.d/transparentsocks
            """);
        bash.SetAction(parse =>
        {
            parse.InvocationConfiguration.Output.WriteLine(BashScript);
            return ExitCodes.Ok;
        });

        return new Command("completion", """
            Print a shell completion script.

            Example:
              source <(transparentsocks completion bash)
            """)
        {
            bash,
        };
    }
}
