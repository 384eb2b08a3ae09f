use clap::Parser;

fn main() {
    let cli = vifman::cli::Cli::parse();
    vifman::cli::init_tracing(cli.verbose);
    if let Err(e) = vifman::cli::run(cli) {
        // One line per cause, outermost first: what was asked, then why it failed.
        let mut msg = e.to_string();
        for cause in e.chain().skip(1) {
            msg.push_str(&format!(": {cause}"));
        }
        eprintln!("vifman: {msg}");
        std::process::exit(1);
    }
}
