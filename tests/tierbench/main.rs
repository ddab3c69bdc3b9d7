//! Integration tests: one binary of topic modules sharing `util`.
//!
//! Tests that need Redis and DynamoDB Local provision their own, as local
//! processes (`local_*` names) or containers (`containers_*` names). A missing
//! service fails the test with what to install; `.ci/run` installs everything.

mod util;

mod backends;
mod chain;
mod defences;
mod gate;
mod harness;
mod merge_cli;
mod mock_api;
mod mock_cli;
mod mock_compat;
mod mock_faults;
mod mock_limits;
mod mock_support;
mod mock_truth;
mod mock_webhooks;
mod origin_etiquette;
mod report_html;
mod sim;
