//! The `vigil` command-line tool: see `vigil --help`.
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut err = std::io::stderr().lock();
    let code = {
        let mut io = vigil_host_test::Io {
            stdin: &mut stdin,
            out: &mut out,
            err: &mut err,
            now: vigil_host_test::cli::system_now,
        };
        vigil_host_test::run(&args, &mut io)
    };
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(err, "vigil: cannot write output: {e}");
        }
        return ExitCode::from(2);
    }
    ExitCode::from(code)
}
