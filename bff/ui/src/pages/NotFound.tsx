// What an address that is no page of the app shows, with the way back.

export function NotFound({ onHome }: { onHome(): void }) {
  return (
    <div class="page-pad placeholder" data-testid="page-not-found">
      <h1>No such page</h1>
      <p>
        This address is not a page of CloudGrid.{' '}
        <a
          href="/explore"
          onClick={(e) => {
            e.preventDefault();
            onHome();
          }}
        >
          Open the explorer
        </a>
        .
      </p>
    </div>
  );
}
