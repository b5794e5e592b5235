import { createBrowserRouter } from "react-router";
import { Layout } from "./components/Layout";
import { Overview } from "./views/Overview";
import { Search } from "./views/Search";
import { SessionView } from "./views/SessionView";
import { EntryDetail } from "./views/EntryDetail";
import { Agents } from "./views/Agents";
import { Keys } from "./views/Keys";
import { Evidence } from "./views/Evidence";
import { Log } from "./views/Log";
import { VerifyBundle } from "./views/VerifyBundle";
import { NotFound } from "./views/NotFound";

export const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      { path: "/", element: <Overview /> },
      { path: "/search", element: <Search /> },
      { path: "/sessions/:id", element: <SessionView /> },
      { path: "/entries/:index", element: <EntryDetail /> },
      { path: "/agents", element: <Agents /> },
      { path: "/keys", element: <Keys /> },
      { path: "/evidence", element: <Evidence /> },
      { path: "/log", element: <Log /> },
      { path: "/verify", element: <VerifyBundle /> },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
