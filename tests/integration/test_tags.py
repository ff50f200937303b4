"""Tags on jobs, triggers, workflows and crawlers, named by Glue's ARNs (TagResource,
UntagResource, GetTags), kept in the store; on SQLite and PostgreSQL.

The service enforces Glue's limits (50 tags a resource, key and value lengths, no "aws:"
prefix) and refuses ARNs of another partition, service, region or account; the store's verbs
add, overwrite, remove, replace and filter (ListJobs' ``Tags``: every key with its value).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from orchestrator import errors, store
from orchestrator.service import tags as service
from orchestrator.settings import Settings
from orchestrator.store import tables

KINDS = ("job", "trigger", "workflow", "crawler")
ACCOUNT = "123456789012"
ALEMBIC_INI = Path(store.__file__).resolve().parents[2] / "migrations" / "alembic.ini"


def _define(db: store.Store, kind: str, *names: str) -> None:
    """Store definitions straight through the store (the Create* operations are not under test)."""
    extra = {"workflow_name": None, "type": "ON_DEMAND", "state": "CREATED"} if kind == "trigger" else {}
    bodies = [store.definitions.Body(n, {"Name": n}, {}, **extra) for n in names]
    with db.transaction() as tx:
        store.definitions.save_many(tx, kind, bodies, {})


def _arn(kind: str, name: str, region: str = "us-east-1", account: str = ACCOUNT) -> str:
    return f"arn:aws:glue:{region}:{account}:{kind}/{name}"


def _tags(db: store.Store, kind: str, name: str) -> dict[str, str]:
    with db.read() as tx:
        return store.tags.get(tx, kind, name)


# The migration


def _alembic(db: store.Store, action: str, revision: str) -> None:
    cfg = Config(str(ALEMBIC_INI))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def test_0005_down_and_up_drops_the_tags_alone(db: store.Store) -> None:
    """Down to 0004 drops the tags table (tags are lost, definitions stay); up again brings it
    back empty, equal to the tables."""
    _define(db, "job", "j")
    with db.transaction() as tx:
        store.tags.put(tx, "job", "j", {"team": "data"})
    _alembic(db, "downgrade", "0004")
    assert db.revision() == "0004"
    with db.read() as tx:
        assert "tags" not in sa.inspect(tx.conn).get_table_names()
        assert store.definitions.get(tx, "job", "j") is not None
    _alembic(db, "upgrade", "head")
    assert db.revision() == store.HEAD_REVISION == "0009"
    with db.read() as tx:
        inspector = sa.inspect(tx.conn)
        assert {ix["name"] for ix in inspector.get_indexes("tags")} == {"ix_tags_kind_key_value"}
        assert inspector.get_pk_constraint("tags")["constrained_columns"] == ["kind", "name", "key"]
        context = MigrationContext.configure(tx.conn, opts={"compare_type": True})
        assert compare_metadata(context, tables.metadata) == []
        assert store.tags.get(tx, "job", "j") == {}
        assert store.definitions.get(tx, "job", "j") is not None


def test_the_columns_have_glues_lengths() -> None:
    """TagKey is 1 to 128 characters and TagValue 0 to 256 (botocore's Glue model)."""
    columns = tables.tags.c
    assert (columns.key.type.length, columns.value.type.length) == (128, 256)
    assert (columns.kind.type.length, columns.name.type.length) == (16, 255)


# TagResource, UntagResource, GetTags


@pytest.mark.parametrize("kind", KINDS)
def test_tag_get_untag_round_trip(db: store.Store, settings: Settings, kind: str) -> None:
    _define(db, kind, "r")
    resource = service.arn(settings, kind, "r")
    assert service.get_tags(db, settings, resource) == {"Tags": {}}
    assert service.tag_resource(db, settings, resource, {"team": "data", "env": "prod", "empty": ""}) == {}
    assert service.get_tags(db, settings, resource) == {"Tags": {"team": "data", "env": "prod", "empty": ""}}
    assert service.untag_resource(db, settings, resource, ["env", "empty"]) == {}
    assert service.get_tags(db, settings, resource) == {"Tags": {"team": "data"}}
    for other in set(KINDS) - {kind}:  # a resource of another kind with the same name has its own tags
        assert _tags(db, other, "r") == {}


def test_tagging_overwrites_a_key_and_keeps_the_others(db: store.Store, settings: Settings) -> None:
    _define(db, "job", "j")
    resource = _arn("job", "j")
    service.tag_resource(db, settings, resource, {"a": "1", "b": "2"})
    service.tag_resource(db, settings, resource, {"a": "one", "c": ""})
    assert service.get_tags(db, settings, resource)["Tags"] == {"a": "one", "b": "2", "c": ""}


def test_keys_are_case_sensitive(db: store.Store, settings: Settings) -> None:
    _define(db, "job", "j")
    service.tag_resource(db, settings, _arn("job", "j"), {"Team": "A", "team": "a"})
    service.untag_resource(db, settings, _arn("job", "j"), ["TEAM"])
    assert _tags(db, "job", "j") == {"Team": "A", "team": "a"}


def test_untagging_an_unknown_key_is_no_error(db: store.Store, settings: Settings) -> None:
    _define(db, "crawler", "c")
    resource = _arn("crawler", "c")
    service.tag_resource(db, settings, resource, {"keep": "1"})
    assert service.untag_resource(db, settings, resource, ["nope", "also-not"]) == {}
    assert service.untag_resource(db, settings, resource, []) == {}
    assert _tags(db, "crawler", "c") == {"keep": "1"}


def test_the_51st_tag_is_refused_and_nothing_changes(db: store.Store, settings: Settings) -> None:
    _define(db, "job", "j")
    resource = _arn("job", "j")
    fifty = {f"k{i:02}": str(i) for i in range(50)}
    service.tag_resource(db, settings, resource, fifty)
    with pytest.raises(errors.InvalidInputException, match="has 50 tags; adding these would make 51, more than the 50"):
        service.tag_resource(db, settings, resource, {"k00": "changed", "k50": "new"})
    assert _tags(db, "job", "j") == fifty  # k00 was not overwritten either
    # Overwriting at the quota adds nothing: allowed.
    service.tag_resource(db, settings, resource, {"k00": "changed"})
    assert _tags(db, "job", "j") == {**fifty, "k00": "changed"}


def test_one_request_of_51_tags_is_refused(db: store.Store, settings: Settings) -> None:
    _define(db, "workflow", "w")
    with pytest.raises(errors.InvalidInputException, match="TagsToAdd has 51 tags; at most 50"):
        service.tag_resource(db, settings, _arn("workflow", "w"), {f"k{i}": "" for i in range(51)})
    assert _tags(db, "workflow", "w") == {}


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"": "v"}, "tag key '' must be 1 to 128 characters"),
        ({"k" * 129: "v"}, "must be 1 to 128 characters"),
        ({"k": "v" * 257}, "the value of tag 'k' must be a string of at most 256 characters"),
        ({"aws:cost": "v"}, "tag key 'aws:cost' starts with 'aws:'"),
        ({"AWS:Cost": "v"}, "tag key 'AWS:Cost' starts with 'aws:'"),
        ({"k": "aws:x"}, "tag value 'aws:x' starts with 'aws:'"),
        ({"k": None}, "the value of tag 'k' must be a string"),
        (["k"], "TagsToAdd must be a map"),
    ],
)
def test_tags_glue_refuses_are_refused_whole(db: store.Store, settings: Settings, tags: object, message: str) -> None:
    _define(db, "job", "j")
    batch = {"fine": "1", **tags} if isinstance(tags, dict) else tags
    with pytest.raises(errors.InvalidInputException, match=message):
        service.tag_resource(db, settings, _arn("job", "j"), batch)  # type: ignore[arg-type]
    assert _tags(db, "job", "j") == {}


def test_the_longest_keys_and_values_fit_on_every_backend(db: store.Store, settings: Settings) -> None:
    """Lengths are characters, not bytes: 128 two-byte characters make a key."""
    _define(db, "job", "j")
    tags = {"é" * 128: "ü" * 256, "k" * 128: "v" * 256, "e": ""}
    service.tag_resource(db, settings, _arn("job", "j"), tags)
    assert service.get_tags(db, settings, _arn("job", "j"))["Tags"] == tags


def test_untag_takes_a_list_of_at_most_50_keys(db: store.Store, settings: Settings) -> None:
    _define(db, "job", "j")
    with pytest.raises(errors.InvalidInputException, match="TagsToRemove must be a list of tag keys"):
        service.untag_resource(db, settings, _arn("job", "j"), "team")
    with pytest.raises(errors.InvalidInputException, match="TagsToRemove has 51 keys; at most 50"):
        service.untag_resource(db, settings, _arn("job", "j"), [f"k{i}" for i in range(51)])


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_resource_is_not_found(db: store.Store, settings: Settings, kind: str) -> None:
    _define(db, kind, "there")
    resource = _arn(kind, "missing")
    title = kind.capitalize()
    with pytest.raises(errors.EntityNotFoundException, match=f"^{title} missing not found$"):
        service.tag_resource(db, settings, resource, {"a": "b"})
    with pytest.raises(errors.EntityNotFoundException, match=f"^{title} missing not found$"):
        service.untag_resource(db, settings, resource, ["a"])
    with pytest.raises(errors.EntityNotFoundException, match=f"^{title} missing not found$"):
        service.get_tags(db, settings, resource)
    assert _tags(db, kind, "missing") == {}


def test_a_name_with_slashes_and_unicode_round_trips(db: store.Store, settings: Settings) -> None:
    name = "team/étl/ジョブ: nightly"
    _define(db, "job", name)
    resource = service.arn(settings, "job", name)
    assert resource == f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{name}"
    service.tag_resource(db, settings, resource, {"owner": "zoë"})
    assert service.get_tags(db, settings, resource) == {"Tags": {"owner": "zoë"}}
    assert _tags(db, "job", name) == {"owner": "zoë"}
    assert _tags(db, "job", "team") == {}


# ARNs (no store needed)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["plain", "a/b/c", "ünïcødé/名前", "with:colons", " spaced "])
def test_arn_and_parse_arn_are_inverse(kind: str, name: str) -> None:
    settings = Settings()
    assert service.arn(settings, kind, name) == f"arn:aws:glue:us-east-1:123456789012:{kind}/{name}"
    assert service.parse_arn(settings, service.arn(settings, kind, name)) == (kind, name)


@pytest.mark.parametrize(
    ("region", "partition"),
    [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso"),
     ("us-isob-east-1", "aws-iso-b")],
)  # fmt: skip
def test_the_arn_is_in_the_regions_partition(region: str, partition: str) -> None:
    settings = Settings(region=region, account_id="210987654321")
    resource = service.arn(settings, "workflow", "w")
    assert resource == f"arn:{partition}:glue:{region}:210987654321:workflow/w"
    assert service.parse_arn(settings, resource) == ("workflow", "w")


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ("", r"^malformed ARN '': expected arn:aws:glue:us-east-1:123456789012:<type>/<name>$"),
        ("job/j", "malformed ARN 'job/j'"),
        ("arn:aws:glue:us-east-1:123456789012:job", "malformed ARN"),
        ("arn:aws:glue:us-east-1:123456789012:job/", "its resource must be <type>/<name>"),
        ("arn:aws:glue:us-east-1:123456789012:/j", "its resource must be <type>/<name>"),
        ("urn:aws:glue:us-east-1:123456789012:job/j", "malformed ARN"),
        ("arn:aws:s3:::bucket/key", r"is not a Glue ARN \(its service is 's3'\)"),
        ("arn:aws-cn:glue:us-east-1:123456789012:job/j", "is in partition 'aws-cn'; this server is in 'aws'"),
        ("arn:aws:glue:eu-west-1:123456789012:job/j", "names region 'eu-west-1'; this server serves region us-east-1"),
        ("arn:aws:glue:us-east-1:210987654321:job/j",
         "names account '210987654321'; this server's account is 123456789012"),
        ("arn:aws:glue:us-east-1:123456789012:database/db",
         "cannot tag a resource of type 'database'.*taggable here: crawler, job, trigger, workflow"),
        ("arn:aws:glue:us-east-1:123456789012:devEndpoint/d", "cannot tag a resource of type 'devEndpoint'"),
        ("arn:aws:glue:us-east-1:123456789012:Job/j", "cannot tag a resource of type 'Job'"),
    ],
)  # fmt: skip
def test_a_bad_arn_is_invalid_input_naming_the_problem(resource: str, message: str) -> None:
    with pytest.raises(errors.InvalidInputException, match=message):
        service.parse_arn(Settings(), resource)


def test_a_huge_arn_is_cut_short_in_the_message() -> None:
    resource = "arn:aws:glue:eu-west-1:123456789012:job/" + "j" * 10_000
    with pytest.raises(errors.InvalidInputException) as raised:
        service.parse_arn(Settings(), resource)
    assert "names region 'eu-west-1'" in raised.value.message and len(raised.value.message) < 400


def test_the_service_refuses_a_bad_arn_before_looking(db: store.Store, settings: Settings) -> None:
    _define(db, "job", "j")
    other = settings.replace(account_id="210987654321")
    with pytest.raises(errors.InvalidInputException, match="this server's account is 210987654321"):
        service.tag_resource(db, other, _arn("job", "j"), {"a": "b"})
    with pytest.raises(errors.InvalidInputException, match="names region 'eu-west-1'"):
        service.get_tags(db, settings, _arn("job", "j", region="eu-west-1"))
    with pytest.raises(errors.InvalidInputException, match="type 'table'"):
        service.untag_resource(db, settings, _arn("table", "db/t"), ["a"])
    assert _tags(db, "job", "j") == {}


# The store's verbs


def test_names_with_matches_every_given_tag_with_its_value(db: store.Store) -> None:
    with db.transaction() as tx:
        store.tags.put(tx, "job", "a", {"team": "data", "env": "prod", "note": ""})
        store.tags.put(tx, "job", "b", {"team": "data", "env": "dev"})
        store.tags.put(tx, "job", "c", {"team": "web", "env": "prod"})
        store.tags.put(tx, "job", "d", {"Team": "data"})
        store.tags.put(tx, "trigger", "t", {"team": "data", "env": "prod"})
    with db.read() as tx:
        assert store.tags.names_with(tx, "job", {"team": "data"}) == {"a", "b"}
        assert store.tags.names_with(tx, "job", {"env": "prod"}) == {"a", "c"}
        assert store.tags.names_with(tx, "job", {"team": "data", "env": "prod"}) == {"a"}
        assert store.tags.names_with(tx, "job", {"team": "data", "env": "qa"}) == set()
        assert store.tags.names_with(tx, "job", {"team": "data", "missing": "x"}) == set()
        assert store.tags.names_with(tx, "job", {"Team": "data"}) == {"d"}
        assert store.tags.names_with(tx, "job", {"team": "DATA"}) == set()
        assert store.tags.names_with(tx, "trigger", {"team": "data"}) == {"t"}
        assert store.tags.names_with(tx, "workflow", {"team": "data"}) == set()


def test_names_with_an_empty_value_matches_only_an_empty_value(db: store.Store) -> None:
    """Glue documents no wildcard: a tag is its key and its value, "" included."""
    with db.transaction() as tx:
        store.tags.put(tx, "job", "blank", {"note": ""})
        store.tags.put(tx, "job", "set", {"note": "x"})
        store.tags.put(tx, "job", "none", {"other": ""})
    with db.read() as tx:
        assert store.tags.names_with(tx, "job", {"note": ""}) == {"blank"}
        assert store.tags.names_with(tx, "job", {"note": "", "other": ""}) == set()
        with pytest.raises(ValueError, match="at least one tag"):
            store.tags.names_with(tx, "job", {})


def test_get_many_reads_the_tags_of_many_in_one_query(db: store.Store) -> None:
    with db.transaction() as tx:
        store.tags.put(tx, "job", "a", {"x": "1", "y": "2"})
        store.tags.put(tx, "job", "b", {"x": "3"})
        store.tags.put(tx, "trigger", "c", {"x": "4"})
    with db.read() as tx, db.statements() as counts:
        found = store.tags.get_many(tx, "job", ["a", "b", "c", "untagged", "a"])
    assert found == {"a": {"x": "1", "y": "2"}, "b": {"x": "3"}}
    assert counts["SELECT"] == 1
    with db.read() as tx:
        assert store.tags.get_many(tx, "job", []) == {}
        assert store.tags.get_many(tx, "job", (f"n{i}" for i in range(6000))) == {}  # past one chunk


def test_replace_makes_the_tags_exactly_these(db: store.Store) -> None:
    with db.transaction() as tx:
        store.tags.put(tx, "workflow", "w", {"keep": "1", "change": "old", "drop": "x"})
        store.tags.replace(tx, "workflow", "w", {"keep": "1", "change": "new", "add": ""})
        assert store.tags.get(tx, "workflow", "w") == {"keep": "1", "change": "new", "add": ""}
        store.tags.replace(tx, "workflow", "w", {})
        assert store.tags.get(tx, "workflow", "w") == {}


def test_delete_all_removes_one_resources_tags(db: store.Store) -> None:
    with db.transaction() as tx:
        store.tags.put(tx, "job", "j", {"a": "1", "b": "2"})
        store.tags.put(tx, "job", "k", {"a": "1"})
        store.tags.put(tx, "crawler", "j", {"a": "1"})
        store.tags.delete_all(tx, "job", "j")
        store.tags.delete_all(tx, "job", "never-tagged")
    with db.read() as tx:
        assert store.tags.get(tx, "job", "j") == {}
        assert store.tags.get(tx, "job", "k") == {"a": "1"}
        assert store.tags.get(tx, "crawler", "j") == {"a": "1"}


def test_a_failed_transaction_leaves_no_tags(db: store.Store) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        store.tags.put(tx, "job", "j", {"a": "1"})
        raise RuntimeError("boom")
    assert _tags(db, "job", "j") == {}
