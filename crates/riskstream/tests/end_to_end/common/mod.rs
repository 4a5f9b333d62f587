pub mod pipeline;
pub mod run;
pub mod serve;
