pub mod pipeline;
pub mod serve;
