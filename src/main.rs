use clap::Parser;

fn main() {
    let cli = vifman::cli::Cli::parse();
    vifman::cli::init_tracing(cli.verbose);
    if let Err(e) = vifman::cli::run(cli) {
        // One line, outermost context first. No program-name prefix, so that os-vif errors start
        // with the oslo exception kind (`ObjectActionError: ...`) as callers expect.
        let mut msg = e.to_string();
        for cause in e.chain().skip(1) {
            msg.push_str(&format!(": {cause}"));
        }
        // Input echoed back in a message (a bad name, a path) must not move the terminal's
        // cursor or forge a second line.
        let msg: String = msg
            .chars()
            .flat_map(|c| match c {
                c if c.is_control() => c.escape_default().collect::<Vec<_>>(),
                c => vec![c],
            })
            .collect();
        eprintln!("{msg}");
        std::process::exit(1);
    }
}
