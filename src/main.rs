use clap::Parser;

fn main() {
    quiet_broken_pipe();
    // Run as `vifman-cni` (the symlink in the CNI bin dir), the binary is the CNI plugin:
    // runtimes pass no arguments, only CNI_* variables and stdin.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if vifman::cli::cni::PLUGIN_NAMES.contains(&base.as_str()) {
        let cli = vifman::cli::Cli::parse_from(["vifman", "cni"]);
        if let Err(e) = vifman::cli::run(cli) {
            eprintln!("{}", escape_controls(&e.to_string()));
            std::process::exit(1);
        }
        return;
    }
    let cli = match vifman::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    // The CNI plugin sets up its own logging from logLevel/logFile in its configuration.
    if !matches!(cli.command, vifman::cli::Command::Cni(_)) {
        vifman::cli::init_tracing(cli.verbose);
    }
    if let Err(e) = vifman::cli::run(cli) {
        // One line, outermost context first. No program-name prefix, so that os-vif errors start
        // with the oslo exception kind (`ObjectActionError: ...`) as callers expect.
        eprintln!("{}", vifman::cli::error_line(&e));
        std::process::exit(1);
    }
}

/// `vifman inventory | head` closes stdout early; Rust ignores SIGPIPE, so `println!` panics
/// ("failed printing to stdout"). A reader that stops reading is not an error of vifman's: end
/// as a process killed by SIGPIPE would (status 141, nothing on stderr), as `ls | head` does.
/// Done in a panic hook rather than by restoring SIGPIPE's default action, so the servers
/// (device plugin, metrics, the FUSE mount) still get EPIPE from a closed socket instead of
/// dying, and no `unsafe` is needed. Every command prints its result after its work is
/// committed, so ending here leaves nothing half done.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}

/// clap quotes a bad argument back inside a usage message that spans several lines of its
/// own, so the message cannot be escaped as a whole: each argument that holds control
/// characters is escaped and the arguments are parsed again, so clap words the same error
/// about the harmless spelling; when the escaped spelling parses (it may be a valid name),
/// the raw argument is replaced where clap echoed it (clap drops CSI sequences when it
/// renders, so their stripped form is looked for too).
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let hostile: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| a.chars().any(char::is_control))
        .collect();
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || hostile.is_empty()
    {
        e.exit()
    }
    let escaped = std::env::args_os().map(|a| escape_controls(&a.to_string_lossy()));
    if let Err(again) = vifman::cli::Cli::try_parse_from(escaped) {
        if again.kind() == e.kind() {
            again.exit()
        }
    }
    let mut text = e.to_string();
    for arg in &hostile {
        text = text.replace(arg.as_str(), &escape_controls(arg));
        text = text.replace(&strip_csi(arg), &escape_controls(arg));
    }
    // Whatever clap echoed in another form (a part of an argument) still loses its controls.
    let lines: Vec<String> = text.split('\n').map(escape_controls).collect();
    eprint!("{}", lines.join("\n"));
    std::process::exit(2)
}

/// `arg` without its ANSI CSI sequences (ESC [ parameters final-byte).
fn strip_csi(arg: &str) -> String {
    let mut out = String::new();
    let mut it = arg.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' && it.peek() == Some(&'[') {
            it.next();
            for f in it.by_ref() {
                if ('@'..='~').contains(&f) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Input echoed back in a message (a bad name, a path) must not move the terminal's cursor
/// or forge a second line.
fn escape_controls(s: &str) -> String {
    vifman::cli::escape_controls(s)
}
