/** @extends {Emitter<ClientEvents>} */
export class RoomClient extends Emitter<ClientEvents> {
    /** @param {ClientOptions} options */
    constructor(options: ClientOptions);
    options: ClientOptions;
    /** The room as the server has told it. */
    state: RoomState;
    /** @type {Status} */
    status: Status;
    /** @type {{ token: string, roomId: string } | null} the seat to resume (§9), if the server offered one */
    seat: {
        token: string;
        roomId: string;
    } | null;
    /** @type {string | null} the room this client wants to be in */
    roomId: string | null;
    /** @private @type {SocketLike | null} */
    private ws;
    attempt: number;
    /** @private @type {ReturnType<typeof setTimeout> | null} */
    private retryTimer;
    /** @type {number | null} when the next connection attempt starts (Date.now() clock), if one is planned */
    nextRetryAt: number | null;
    /** @private */
    private entered;
    /** @private @type {Waiter | null} the ENTER on this socket waiting for its SYNC */
    private entering;
    /** @private @type {Waiter | null} the enter() call's promise: it outlives reconnects */
    private enterCall;
    /** @private @type {ReturnType<typeof setTimeout> | null} waiting for the answer to resume=<token> */
    private resumeTimer;
    /** @private */
    private resuming;
    /** @private @type {Waiter[]} */
    private syncWaiters;
    /** @private @type {Map<string, Waiter>} BUILDs waiting for their answer, by their `ref` */
    private buildWaiters;
    /** @private */
    private builds;
    /** @type {string | null} the user this client speaks for, as the server named it (SYNC `you`) */
    me: string | null;
    /** @private the token was refused as expired once since the last open socket: asked again */
    private expiredOnce;
    /** @private @type {{ url: string, token: string } | null} the last connection attempt's */
    private lastAttempt;
    /** @private how many sockets opened so far (a token check made before one opened is stale) */
    private opens;
    /** @private */
    private resyncAsked;
    /** @private */
    private leaving;
    /** @private */
    private replaced;
    /** @private */
    private stopped;
    /** @private */
    private generation;
    /** @private @type {RoomError | null} why the client stopped, when it stopped on an error */
    private finalError;
    /** The room, once entered (kept while reconnecting). */
    get room(): import("./state.js").Room | null;
    /** Whether commands can be sent now. */
    get ready(): boolean;
    /**
     * Enter room `roomId` (connecting first if needed); resolves with the room
     * once the server's SYNC arrived, through reconnects if it takes some.
     * Rejects with a `RoomError`: a refusal (76401, 76403, 76404, 76409, ...)
     * stops the client; so does a final close.
     * @param {string | number} roomId
     * @returns {Promise<Room>}
     */
    enter(roomId: string | number): Promise<Room>;
    /**
     * Move one cell. Returns false (and sends nothing) when not in a room right now.
     * Throws a `RoomError` of kind `usage` for a direction other than 0, 1, 2 or 3.
     * @param {DirectionValue} direction 0 up, 1 right, 2 down, 3 left
     */
    move(direction: DirectionValue): boolean;
    /**
     * Ask for the whole room again; resolves with it.
     * @returns {Promise<Room>}
     */
    sync(): Promise<Room>;
    /**
     * Replace the room's map (owner only). Resolves with the room of the SYNC
     * answering this BUILD; rejects with the ERROR that refused it (76403,
     * 76410, 76503 when another writer changed the map meanwhile, ...). The
     * BUILD carries a `ref` that the server echoes in its answer (PROTOCOL.md
     * §5), so other SYNCs and ERRORs arriving meanwhile are not taken for it.
     * @param {RoomMap} map
     * @returns {Promise<Room>}
     */
    build(map: RoomMap): Promise<Room>;
    /**
     * Leave the room (LEAVE, 19): the server closes the socket, and this client
     * does not reconnect. Resolves once closed.
     * @returns {Promise<void>}
     */
    leave(): Promise<void>;
    /**
     * Close the connection without LEAVE and stop reconnecting. To the server
     * this is a dropped connection (§8; with resume, the seat is kept for the
     * grace). `enter()` starts again.
     */
    close(): void;
    /**
     * Cut a planned retry short and connect now (say, when the browser reports
     * it is online again). Does nothing unless a retry is planned.
     */
    reconnectNow(): void;
    /** @private */
    private get timeoutMs();
    /** @private */
    private connect;
    /** @private */
    private tokenNow;
    /**
     * @param {SocketLike} ws
     * @param {string} url
     * @private
     */
    private attach;
    /** @private */
    private sendEnter;
    /** @private */
    private giveUpSeat;
    /**
     * Close `ws` ourselves and handle it as a drop (reconnect).
     * @param {SocketLike} ws
     * @param {string} reason
     * @param {boolean} wasOpen
     * @private
     */
    private drop;
    /**
     * @param {SocketLike} ws
     * @param {number} code
     * @param {string} reason
     * @param {boolean} wasOpen
     * @private
     */
    private onClosed;
    /**
     * After a connection that never opened: `POST /auth/check` on the server
     * tried says whether the token is refused. Refused: the client stops with a
     * `RoomError` of kind `auth`, except that an expired token is asked of the
     * token function once more first (the retry already planned does that).
     * No answer, or another one (a server without the route): the retry goes on.
     * A verdict counts while no socket opened since and the latest attempt
     * presents the same token (a token asked again gets a check of its own),
     * however many retries started while the check was on its way.
     * @private
     */
    private checkToken;
    /**
     * The client has stopped: no socket, no retry.
     * @param {number} code
     * @param {string} reason
     * @param {RoomError | null} [error]
     * @private
     */
    private finish;
    /** @private */
    private cancelRetry;
    /** @private */
    private clearEntering;
    /** @private */
    private clearResume;
    /** @private @param {RoomError} error */
    private failCommands;
    /**
     * @param {Waiter} waiter
     * @param {RoomError | Room} outcome
     * @private
     */
    private settle;
    /** @private @param {Status} status */
    private setStatus;
    /** @private @param {ServerMessage} m */
    private handle;
    /** @private @param {import('./codec.js').SyncMessage} m */
    private onSync;
    /** @private */
    private onInRoom;
    /** @private @param {EnterMessage | LeaveMessage | MoveMessage} m */
    private onEvent;
    /** @private @param {ResumedMessage} m */
    private onResumed;
    /** @private @param {import('./codec.js').ErrorMessage} m */
    private onError;
}
export type ServerMessage = import("./codec.js").ServerMessage;
export type EnterMessage = import("./codec.js").EnterMessage;
export type LeaveMessage = import("./codec.js").LeaveMessage;
export type MoveMessage = import("./codec.js").MoveMessage;
export type SeatMessage = import("./codec.js").SeatMessage;
export type ResumedMessage = import("./codec.js").ResumedMessage;
export type ReplacedMessage = import("./codec.js").ReplacedMessage;
export type RoomMap = import("./codec.js").RoomMap;
export type DirectionValue = import("./codec.js").DirectionValue;
export type Room = import("./state.js").Room;
export type BackoffOptions = import("./backoff.js").BackoffOptions;
export type SocketLike = import("./handshake.js").SocketLike;
export type SocketConstructor = import("./handshake.js").SocketConstructor;
export type ClientOptions = {
    /**
     * the access token (PROTOCOL.md §1), or a
     * function asked for it before every connection (to refresh an expiring one)
     */
    token: string | (() => string | Promise<string>);
    /**
     * the WebSocket endpoint, e.g. `ws://127.0.0.1:8210/library`
     */
    url?: string | undefined;
    /**
     * the cluster's HTTP base, e.g. `http://127.0.0.1:8210`: before each
     * connection `GET {http}/rooms/{id}/route` names the node to use; `url` (default: `http` with a
     * ws scheme and `/library`) is the fallback when there is no route
     */
    http?: string | undefined;
    /**
     * how the token travels (default `subprotocol`:
     * `myroom.v1, bearer.<token>`; `query`: `?token=`)
     */
    tokenIn?: "subprotocol" | "query" | undefined;
    /**
     * ask for `batch=1` (several messages per frame; split here)
     */
    batch?: boolean | undefined;
    /**
     * opt into seat resume, §9 (default true)
     */
    resume?: boolean | undefined;
    /**
     * reconnection delays, or `false` for none
     */
    reconnect?: false | import("./backoff.js").BackoffOptions | undefined;
    /**
     * how long an ENTER, SYNC, BUILD, resume, route lookup or token
     * check may wait for its answer (default 10000)
     */
    timeoutMs?: number | undefined;
    /**
     * after a connection that never opened, ask the server's
     * `POST /auth/check` whether the token is refused (default true): a refused one stops the client
     * with a `RoomError` of kind `auth` (an expired one only after the token function gave a new one
     * that is refused too)
     */
    authCheck?: boolean | undefined;
    /**
     * default: the global `WebSocket`
     */
    WebSocket?: import("./handshake.js").SocketConstructor | undefined;
    /**
     * default: the global `fetch`
     */
    fetch?: typeof fetch | undefined;
    /**
     * for the jitter (default `Math.random`)
     */
    random?: (() => number) | undefined;
};
export type Status = "idle" | "connecting" | "open" | "reconnecting" | "closed";
export type SyncCause = "enter" | "resync" | "request" | "build";
export type SyncEvent = {
    room: Room;
    seq?: number;
    cause: SyncCause;
};
export type StateEvent = {
    cause: "sync" | "enter" | "leave" | "move" | "resumed";
};
export type ConnectingEvent = {
    url: string;
    attempt: number;
    resuming: boolean;
};
export type OpenEvent = {
    url: string;
};
export type DisconnectedEvent = {
    code: number;
    reason: string;
    wasOpen: boolean;
    retryInMs: number | null;
};
export type ClosedEvent = {
    code: number;
    reason: string;
    error: RoomError | null;
};
export type ClientEvents = {
    enter: EnterMessage;
    leave: LeaveMessage;
    move: MoveMessage;
    sync: SyncEvent;
    seat: SeatMessage;
    resumed: ResumedMessage;
    replaced: ReplacedMessage;
    error: RoomError;
    state: StateEvent;
    connecting: ConnectingEvent;
    open: OpenEvent;
    disconnected: DisconnectedEvent;
    closed: ClosedEvent;
    status: {
        status: Status;
    };
};
export type Waiter = {
    resolve: (room: Room) => void;
    reject: (e: RoomError) => void;
    timer: ReturnType<typeof setTimeout> | null;
};
import { Emitter } from './emitter.js';
import { RoomState } from './state.js';
import { RoomError } from './errors.js';
