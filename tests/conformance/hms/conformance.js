// Drives the 100ms emulator with 100ms's official Node server SDK, as the
// backend's own calls would: rooms idempotent by name (overwriting their
// settings), room codes per role, sessions and their peers (listed with the
// SDK's own paging), disabling, and the SDK's own management tokens verified
// by the emulator. Our client agreeing with our emulator
// proves little; 100ms's SDK agreeing with it does.
const HMS = require("@100mslive/server-sdk");

const base = process.env.HMS_EMULATOR_BASE.replace(/\/$/, "");
const control = process.env.HMS_EMULATOR_CONTROL.replace(/\/$/, "");
const template = process.env.HMS_TEMPLATE_ID;
const passed = [];

function check(condition, what) {
  if (!condition) {
    console.log(`FAILED: ${what}`);
    process.exit(1);
  }
  passed.push(what);
}

async function rejects(promise, status, what) {
  try {
    await promise;
  } catch (err) {
    const got = err.response ? err.response.status : err.code || err.message;
    check(got === status || (err.message || "").includes(String(status)), `${what} (got ${got})`);
    return err;
  }
  check(false, `${what}: no error`);
}

function sdk(secret) {
  const hms = new HMS.SDK(process.env.HMS_ACCESS_KEY, secret);
  // The SDK hard-codes https://api.100ms.live/v2; point its axios instance here.
  hms.api.axios.defaults.baseURL = base;
  return hms;
}

async function main() {
  const hms = sdk(process.env.HMS_SECRET);
  const spec = { name: "bk_conformance_0", description: "60-min lesson", template_id: template, max_duration_seconds: 5400 };
  const room = await hms.rooms.create(spec);
  check(room.id && room.name === spec.name && room.enabled === true, "create gives an enabled room with the name");
  check(room.template_id === template, "the room uses the template");
  const again = await hms.rooms.create(spec);
  check(again.id === room.id, "creating an existing name returns the same room");
  const changed = await hms.rooms.create({ ...spec, name: "BK_CONFORMANCE_0", description: "changed" });
  check(changed.id === room.id, "names are case-insensitive");
  const fetched = await hms.rooms.retrieveById(room.id);
  check(fetched.description === "changed", "a create for an existing name overwrites its settings");

  const codes = await hms.roomCodes.create(room.id);
  const roles = codes.map((c) => c.role).sort();
  check(JSON.stringify(roles) === JSON.stringify(["guest", "host"]), "codes for every role of the template");
  check(codes.every((c) => c.enabled && /^[a-z]{3}-[a-z]{4}-[a-z]{3}$/.test(c.code) && c.room_id === room.id), "codes are enabled, shaped like 100ms's, for this room");
  const codesAgain = await hms.roomCodes.create(room.id);
  check(JSON.stringify(codesAgain.map((c) => c.code).sort()) === JSON.stringify(codes.map((c) => c.code).sort()), "asking again gives the same codes");

  await rejects(hms.rooms.create({ ...spec, name: "other", template_id: "no_such_template" }), 400, "an unknown template is a 400");
  await rejects(hms.rooms.create({ ...spec, name: "has space" }), 400, "a name with a space is a 400");
  await rejects(hms.roomCodes.create("000000000000000000000000"), 404, "codes for a missing room are a 404");

  // Sessions: two people join, one leaves, then the other; 100ms's listing and paging.
  const join = async (user_id, role, at) => (await (await fetch(`${control}/rooms/${room.id}/join`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id, role, at }) })).json()).peer_id;
  const leave = (peer, at) => fetch(`${control}/peers/${peer}/leave`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ at }) });
  const teacherPeer = await join("t_conformance", "host", "2026-12-01T10:00:00Z");
  const studentPeer = await join("s_conformance", "guest", "2026-12-01T10:02:00Z");
  await leave(studentPeer, "2026-12-01T10:50:00Z");
  const running = [];
  for await (const session of hms.sessions.list({ room_id: room.id, active: true })) running.push(session);
  check(running.length === 1 && Object.keys(running[0].peers).length === 2 && running[0].active, "a running session lists both peers");
  const student = Object.values(running[0].peers).find((p) => p.user_id === "s_conformance");
  check(student.joined_at === "2026-12-01T10:02:00Z" && student.left_at === "2026-12-01T10:50:00Z", "a peer who left carries joined_at and left_at");
  await leave(teacherPeer, "2026-12-01T11:00:00Z");
  const ended = [];
  for await (const session of hms.sessions.list({ room_id: room.id, active: false })) ended.push(session);
  check(ended.length === 1 && !ended[0].active, "with its last peer gone the session is listed only with active=false");
  const byDefault = [];
  for await (const session of hms.sessions.list({ room_id: room.id })) byDefault.push(session);
  check(byDefault.length === 0, "active defaults to true, as on 100ms");
  const byId = await hms.sessions.retrieveById(ended[0].id);
  check(Object.values(byId.peers).every((p) => p.left_at), "a session by id has every peer's stay");

  const disabled = await hms.rooms.enableOrDisable(room.id, false);
  check(disabled.enabled === false, "a room can be disabled");
  await rejects(hms.roomCodes.create(room.id), 403, "a disabled room gives no codes");

  const intruder = sdk("a-secret-that-is-not-the-apps-secret-000");
  await rejects(intruder.rooms.create({ ...spec, name: "intruder" }), 401, "tokens signed with another secret are refused");

  const requests = await (await fetch(`${control}/requests`)).json();
  check(requests.filter((r) => r.authorized).length >= 9, "the SDK's own management tokens were accepted");
  console.log(`@100mslive/server-sdk 0.3.0: ${passed.length} passed, 0 failed`);
}

main().catch((err) => {
  console.log(`FAILED: ${err.stack || err}`);
  process.exit(1);
});
