"""Operations tasks (``invoke --list``). This file only wires; the tasks live in ops/tasks/."""

from __future__ import annotations

from invoke.collection import Collection

from ops.tasks import backup, ci, deploy, dev, image, monitor, users

namespace = Collection(dev.dev, dev.db)
namespace.add_collection(backup.backup)
namespace.add_collection(ci.ci)
namespace.add_collection(image.image)
namespace.add_collection(users.users)
namespace.add_task(backup.restore)
namespace.add_task(backup.dr_drill, name="dr-drill")
namespace.add_task(monitor.monitor)
for _release_task in (
    deploy.deploy,
    deploy.rollback,
    deploy.status,
    deploy.releases,
    deploy.down,
    deploy.unlock,
):
    namespace.add_task(_release_task)
