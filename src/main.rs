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
        eprintln!("{msg}");
        std::process::exit(1);
    }
}
