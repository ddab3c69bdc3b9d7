//! Containers through a Docker API (testcontainers): Redis and DynamoDB Local
//! from configurable images, ready when they answer.

use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::RemoveContainerOptionsBuilder;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};

use super::probe::{wait_dynamodb, wait_redis};
use super::{BackendConfig, BackendError, BackendKind, Backends, Endpoints, Running as Provisioned};

/// Label on every container tierbench starts.
pub const LABEL: &str = "dev.tierbench.backend";

/// Containers started for one set of backends.
#[derive(Debug)]
pub(super) struct Running {
    containers: Vec<ContainerAsync<GenericImage>>,
}

impl Running {
    /// Removes the containers.
    pub(super) async fn stop(self) -> Result<(), BackendError> {
        let mut first_error = None;
        for c in self.containers {
            let id = c.id().to_owned();
            if let Err(e) = c.rm().await {
                first_error
                    .get_or_insert(BackendError::Container { what: "remove", detail: format!("{id}: {e}") });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The container ids: Redis's, then DynamoDB Local's.
    pub(super) fn ids(&self) -> Vec<String> {
        self.containers.iter().map(|c| c.id().to_owned()).collect()
    }

    /// Leaves the containers running; returns their ids.
    pub(super) fn detach(self) -> Vec<String> {
        self.containers
            .into_iter()
            .map(|c| {
                let id = c.id().to_owned();
                // Dropping would remove the container: keep it for `backends down`.
                std::mem::forget(c);
                id
            })
            .collect()
    }
}

/// Pings the Docker API (DOCKER_HOST or the default socket) with a 2 s limit.
pub(super) async fn docker_ping() -> Result<(), BackendError> {
    let no_docker = |detail: String| BackendError::NoDocker { detail };
    let docker = Docker::connect_with_defaults().map_err(|e| no_docker(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(2), docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(no_docker(e.to_string())),
        Err(_) => Err(no_docker("the Docker API did not answer a ping within 2 s".into())),
    }
}

/// Pauses (`docker pause`: the cgroup freezer, as SIGSTOP for a process) or
/// unpauses the container `id`.
///
/// # Errors
/// When no Docker API answers or it refuses.
pub async fn set_paused(id: &str, paused: bool) -> Result<(), BackendError> {
    let docker =
        Docker::connect_with_defaults().map_err(|e| BackendError::NoDocker { detail: e.to_string() })?;
    let (what, result) = if paused {
        ("pause", docker.pause_container(id).await)
    } else {
        ("unpause", docker.unpause_container(id).await)
    };
    result.map_err(|e| BackendError::Container { what, detail: format!("{id}: {e}") })
}

/// Removes the containers `ids` (for `backends down`).
///
/// # Errors
/// When no Docker API answers or a container cannot be removed (a container
/// that is already gone is not an error).
pub async fn remove(ids: &[String]) -> Result<(), BackendError> {
    let docker =
        Docker::connect_with_defaults().map_err(|e| BackendError::NoDocker { detail: e.to_string() })?;
    for id in ids {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => {}
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }) => {}
            Err(e) => return Err(BackendError::Container { what: "remove", detail: format!("{id}: {e}") }),
        }
    }
    Ok(())
}

/// `name:tag` (a registry port is not a tag: `host:5000/redis` has tag `latest`).
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

fn start_error(image: &str, e: TestcontainersError) -> BackendError {
    let detail = e.to_string();
    if detail.contains("pull") || detail.contains("No such image") {
        BackendError::Image { image: image.to_owned(), detail }
    } else {
        BackendError::Container { what: "start", detail: format!("{image}: {detail}") }
    }
}

async fn host_port(c: &ContainerAsync<GenericImage>, port: u16) -> Result<(String, u16), BackendError> {
    let err = |e: TestcontainersError| BackendError::Container { what: "inspect", detail: e.to_string() };
    let host = match std::env::var("TIERBENCH_CONTAINER_HOST") {
        Ok(h) => h,
        Err(_) => c.get_host().await.map_err(err)?.to_string(),
    };
    Ok((host, c.get_host_port_ipv4(port.tcp()).await.map_err(err)?))
}

/// Starts Redis and DynamoDB Local containers and waits until both answer; on
/// any failure removes whatever it started.
pub(super) async fn start(config: &BackendConfig) -> Result<Backends, BackendError> {
    docker_ping().await?;
    let (redis_name, redis_tag) = split_image(&config.redis_image);
    let redis = GenericImage::new(redis_name, redis_tag)
        .with_exposed_port(6379.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .with_cmd(["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .with_label(LABEL, "redis")
        .with_startup_timeout(config.startup_timeout);
    let (ddb_name, ddb_tag) = split_image(&config.dynamodb_image);
    // The official image's entrypoint is `java` in the jar's folder; ours too.
    let ddb = GenericImage::new(ddb_name, ddb_tag)
        .with_exposed_port(8000.tcp())
        .with_cmd([
            "-Djava.library.path=./DynamoDBLocal_lib",
            "-jar",
            "DynamoDBLocal.jar",
            "-inMemory",
            "-disableTelemetry",
            "-port",
            "8000",
        ])
        .with_label(LABEL, "dynamodb-local")
        .with_startup_timeout(config.startup_timeout);

    let mut running = Running { containers: Vec::new() };
    let result = async {
        let r = redis.start().await.map_err(|e| start_error(&config.redis_image, e))?;
        let mapped = host_port(&r, 6379).await;
        running.containers.push(r);
        let (redis_host, redis_port) = mapped?;
        // Start DynamoDB Local before waiting on Redis: the JVM is the slow one.
        let d = ddb.start().await.map_err(|e| start_error(&config.dynamodb_image, e))?;
        let mapped = host_port(&d, 8000).await;
        running.containers.push(d);
        let (ddb_host, ddb_port) = mapped?;
        let endpoints = Endpoints {
            redis_url: format!("redis://{redis_host}:{redis_port}"),
            dynamodb_endpoint: Some(format!("http://{ddb_host}:{ddb_port}")),
            region: config.region.clone(),
        };
        wait_redis(&endpoints.redis_url, config.startup_timeout, || Ok(())).await?;
        let ddb_url = endpoints.dynamodb_endpoint.as_deref().unwrap_or_default();
        wait_dynamodb(ddb_url, &endpoints.region, config.startup_timeout, || Ok(())).await?;
        Ok::<_, BackendError>(endpoints)
    }
    .await;
    match result {
        Ok(endpoints) => Ok(Backends {
            kind: BackendKind::Containers,
            endpoints,
            running: Provisioned::Containers(running),
        }),
        Err(e) => {
            let _ = running.stop().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_names_split_at_the_tag_not_the_registry_port() {
        assert_eq!(split_image("redis:7"), ("redis", "7"));
        assert_eq!(split_image("amazon/dynamodb-local"), ("amazon/dynamodb-local", "latest"));
        assert_eq!(split_image("host:5000/redis"), ("host:5000/redis", "latest"));
        assert_eq!(split_image("host:5000/redis:7.2"), ("host:5000/redis", "7.2"));
    }
}
