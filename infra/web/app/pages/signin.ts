import { h, show } from "../dom.js";
import { navigate, type Page } from "../main.js";
import { loadConfig, signIn, type DemoUser } from "../session.js";

const where: Record<DemoUser["role"], string> = { student: "/teachers", teacher: "/lessons", admin: "/teachers" };

export const signInPage: Page = {
  title: "Sign in",
  async render(main) {
    const { demo_users: users } = await loadConfig();
    const choose = (user: DemoUser) => () => {
      signIn(user);
      const after = sessionStorage.getItem("lessons.after-sign-in");
      sessionStorage.removeItem("lessons.after-sign-in");
      navigate(after ?? where[user.role]);
    };
    const group = (role: DemoUser["role"], heading: string) =>
      h("section", { "aria-labelledby": `as-${role}` }, h("h2", { id: `as-${role}` }, heading), h("ul", { class: "choices" }, ...users.filter((u) => u.role === role).map((u) => h("li", {}, h("button", { type: "button", onclick: choose(u) }, `Sign in as ${u.name}`)))));
    show(
      main,
      h("h1", {}, "Sign in"),
      h("p", {}, "Pick one of the local stack's demo accounts. Their tokens are signed with the development secret, as your identity provider's would be."),
      group("student", "Students"),
      group("teacher", "Teachers"),
      group("admin", "Operators"),
    );
  },
};
