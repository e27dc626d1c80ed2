//! The runtime API's `Shards`, for real: every action goes through the
//! coordinator (mesh messages to the shards, the deletion protocol) and
//! the health checker.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::api::{NotRemovable, ServerId, SessionRow, Shards};
use crate::backend::{Admin, ServerShared};
use crate::check::CheckerLink;
use crate::config;
use crate::mesh::coord::{CoordError, Coordinator};

pub struct ShardOps {
    /// Shared with the control thread's reloads, which it serialises with
    /// the API's commands.
    coord: Arc<Mutex<Coordinator>>,
    checker: CheckerLink,
}

impl ShardOps {
    pub fn new(coord: Arc<Mutex<Coordinator>>, checker: CheckerLink) -> ShardOps {
        ShardOps { coord, checker }
    }

    fn coord(&self) -> MutexGuard<'_, Coordinator> {
        self.coord.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server `id` names if its slot still holds it (a slot freed by
    /// `del server` may hold a newer server by now).
    fn live(&self, id: &ServerId) -> Result<Arc<ServerShared>, String> {
        let rt = self.coord().rt();
        let reg = rt
            .backends
            .get(id.backend)
            .ok_or_else(|| CoordError::NoBackend.to_string())?
            .registry();
        reg.slots
            .get(id.server.id.slot as usize)
            .and_then(|s| s.srv.as_ref())
            .filter(|s| Arc::ptr_eq(s, &id.server))
            .cloned()
            .ok_or_else(|| CoordError::NoServer.to_string())
    }
}

impl Shards for ShardOps {
    fn add_server(&mut self, backend: usize, server: config::Server) -> Result<(), String> {
        let srv = self
            .coord()
            .add_server(backend, server)
            .map_err(|e| e.to_string())?;
        // HAProxy creates a dynamic server's checks disabled: `enable
        // health` starts them.
        self.checker.add(backend, srv.clone(), srv.cfg.check, false);
        Ok(())
    }

    fn del_server(&mut self, id: &ServerId) -> Result<(), String> {
        let srv = self.live(id)?;
        self.coord()
            .del_server(id.backend, &srv)
            .map_err(|e| e.to_string())?;
        self.checker.remove(&srv);
        Ok(())
    }

    fn set_admin(&mut self, id: &ServerId, admin: Admin) -> Result<(), String> {
        let srv = self.live(id)?;
        self.coord().set_admin(id.backend, &srv, admin);
        Ok(())
    }

    fn set_weight(&mut self, id: &ServerId, weight: u32) -> Result<(), String> {
        let srv = self.live(id)?;
        srv.weight.store(weight, Ordering::Relaxed);
        self.coord().capacity_changed(id.backend);
        Ok(())
    }

    fn set_maxconn(&mut self, id: &ServerId, maxconn: u32) -> Result<(), String> {
        let srv = self.live(id)?;
        srv.maxconn.store(maxconn, Ordering::Relaxed);
        self.coord().capacity_changed(id.backend);
        Ok(())
    }

    fn set_health(&mut self, id: &ServerId, enabled: bool) -> Result<(), String> {
        let srv = self.live(id)?;
        self.checker.set_enabled(&srv, enabled);
        Ok(())
    }

    fn sessions(&mut self) -> Result<Vec<SessionRow>, String> {
        let streams = self.coord().streams().map_err(|e| e.to_string())?;
        Ok(streams
            .into_iter()
            .map(|s| SessionRow {
                id: s.id,
                shard: s.shard,
                src: s.src,
                frontend: s.frontend,
                backend: s.backend,
                server: s.server,
                age: Duration::from_millis(s.age_ms),
                calls: 0,
                expires_in: None,
            })
            .collect())
    }

    fn shutdown_session(&mut self, id: u64) -> Result<bool, String> {
        self.coord().shutdown_stream(id).map_err(|e| e.to_string())
    }

    fn shutdown_server_sessions(&mut self, id: &ServerId) -> Result<(), String> {
        let srv = self.live(id)?;
        self.coord().shutdown_server_sessions(id.backend, &srv);
        Ok(())
    }

    fn removable(&mut self, id: &ServerId) -> Result<(), NotRemovable> {
        let srv = self.live(id).map_err(NotRemovable::Never)?;
        match self.coord().removable(id.backend, &srv) {
            Ok(()) => Ok(()),
            // Waiting can change both: the operator (or a reload) may put
            // it in maintenance, and what refers to it ends.
            Err(e @ (CoordError::NotInMaintenance | CoordError::StillReferenced(_))) => {
                Err(NotRemovable::Yet(e.to_string()))
            }
            Err(e) => Err(NotRemovable::Never(e.to_string())),
        }
    }
}
