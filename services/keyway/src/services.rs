//! Which services one process runs (`keyway up` runs all three).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Services {
    pub gateway: bool,
    pub keys: bool,
    pub projector: bool,
}

impl Services {
    pub const ALL: Self = Self {
        gateway: true,
        keys: true,
        projector: true,
    };
    pub const GATEWAY: Self = Self {
        gateway: true,
        keys: false,
        projector: false,
    };
    pub const KEYS: Self = Self {
        gateway: false,
        keys: true,
        projector: false,
    };
    pub const PROJECTOR: Self = Self {
        gateway: false,
        keys: false,
        projector: true,
    };

    pub fn names(self) -> Vec<&'static str> {
        [
            (self.gateway, "gateway"),
            (self.keys, "keys"),
            (self.projector, "projector"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    pub(crate) fn needs_db(self) -> bool {
        self.keys || self.projector
    }
}
