// Who is signed in, and the client acting for them. The local stack serves
// /config.json with the function URLs and its demo accounts' tokens; a real
// frontend gets its tokens from its identity provider instead.

import { ApiError, LessonsClient, type FunctionName } from "../client/index.js";

export type Role = "student" | "teacher" | "admin";

export interface DemoUser {
  name: string;
  sub: string;
  role: Role;
  token: string;
}

interface Config {
  functions_base: string;
  demo_users: DemoUser[];
}

const KEY = "lessons.session";
let config: Config | undefined;

export async function loadConfig(): Promise<Config> {
  if (!config) {
    const response = await fetch("/config.json");
    if (!response.ok) throw new ApiError(response.status, "no_config", "The local stack did not serve its configuration; is make dev running?");
    config = (await response.json()) as Config;
  }
  return config;
}

export function current(): DemoUser | undefined {
  const raw = localStorage.getItem(KEY);
  return raw ? (JSON.parse(raw) as DemoUser) : undefined;
}

export function signIn(user: DemoUser): void {
  localStorage.setItem(KEY, JSON.stringify(user));
}

export function signOut(): void {
  localStorage.removeItem(KEY);
}

export function client(): LessonsClient {
  const base = config?.functions_base ?? "http://127.0.0.1:9000/lambda-url";
  return new LessonsClient({ functionUrl: (name: FunctionName) => `${base}/${name}/`, token: () => current()?.token });
}
