//! The local runner: every Terminagent function wired to real local AWS emulators and driven the
//! way AWS drives them (stream polling, bus → queue → function, a schedule), plus the sent-mail view.

pub mod dev;
pub mod devmail;
pub mod emulators;
pub mod gateway;
pub mod iam;
pub mod infra;
pub mod pollers;
pub mod runner;
