import { Link } from "react-router";
import { PageTitle } from "../components/common";

export function NotFound() {
  return (
    <>
      <PageTitle title="Page not found">There is no console page at this address.</PageTitle>
      <p>
        <Link to="/">Go to the overview</Link>
      </p>
    </>
  );
}
