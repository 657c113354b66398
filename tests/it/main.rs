//! Integration tests: the real `flux` binary against temporary projects and real servers.

mod bad_input;
mod cli;
mod dev;
mod init;
mod isolation;
mod queue;
mod reload;
mod support;
mod tail;
mod trace;
