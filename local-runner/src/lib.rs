//! The local runner: every Terminagent function wired to real local AWS emulators and driven the
//! way AWS drives them (stream polling, bus → queue → function, a schedule).

pub mod runner;
pub mod stack;
