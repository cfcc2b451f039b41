#!/usr/bin/perl

# An emulator of the Tencent Cloud CI job-query API, for the tests and
# "make run".
#
#   ci-emulator.pl --listen 127.0.0.1:PORT [--tls-cert FILE --tls-key FILE]
#       --host BUCKET.ci.REGION.myqcloud.com --secret ID:KEY [--secret ...]
#       [--require-token TOKEN] [--clock-offset SECONDS]
#       [--record FILE] [--pid-file FILE]
#
# Every request's signature is checked with CosSignature.pm (403 otherwise);
# every request is recorded in --record as a JSON line: method, target,
# version, headers (in order), signature ("ok" or "bad: ..."), pid (one per
# connection), time, status, response_sha1 (of the body sent) and, for
# bodies under a megabyte, response (the body itself).
#
# Jobs (each id API has a job in each state):
#   GET /jobs/<ids>               jobs<State><N>, N = 1..20, State one of
#                                 Submitted Running Pause Success Failed
#                                 Cancel; genSuccess<N> for any N; the seed
#                                 jobs j8d121820f5e411ec926ef19d53ba9c6f
#                                 (Success) and j9c0a4726f6ac11ec96aaa9b64ab18d00
#                                 (Running); jobsUserData1 (Running, with a
#                                 UserData that reads like a Success State);
#                                 faultstate (Submitted, Running, then Success
#                                 on later requests)
#   GET /pic_jobs/<id>            pic<State><N>, c93984788066911ed89ed352d4d9d2084
#   GET /ai_jobs/<id>             ai<State><N>, a8d121820f5e411ec926ef19d53ba9c6f
#   GET /inventorytriggerjob/<id> inv<State><N>, b3deffea2f84911ec9cb15254008618d9
#   GET /jobs?queueId=&tag=...    queue p893bcda225bf4945a378da6662e81a89:
#                                 25 Translation jobs listJob01..25 (states
#                                 cycling, created an hour apart from
#                                 2022-07-07T12:00:00+0800, workflowId w1/w2,
#                                 inventoryTriggerJobId inv1 for every third,
#                                 inputObject "input/a b+c.txt" for listJob05)
#                                 and 5 Transcode jobs; every filter, paging
#                                 with nextToken.
#
# Misbehaviour on demand, by job id (or by queueId for the list):
#   faultslow<N>      answers after N seconds
#   faultslowbody<N>  sends the header and half the body, N seconds later
#                     the rest
#   faultreset        resets the connection (RST) after reading the request
#   faultresetbody    sends the header and half the body, then resets
#   fault500, fault503  that status with a CI error body
#   faulttruncated    a Content-Length larger than the body, then closes
#   faultmalformed    200 with a body that is not well-formed XML
#   faulthuge         200 with a well-formed body of about 10 MB
#   faultbig          200 with a well-formed body of about 3 MB
#   faultchunked      200, Transfer-Encoding: chunked, a chunk extension
#                     and a trailer
#   faultgzip         Content-Encoding: gzip when Accept-Encoding allows it
#   faultcontenttype  a good answer labelled Content-Type: text/plain

use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use CosSignature qw(verify);
use Digest::SHA qw(sha1_hex);
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT);
use Getopt::Long;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(strftime WNOHANG);
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::Local qw(timegm);

my %opt = (secret => []);
GetOptions(\%opt, 'listen=s', 'tls-cert=s', 'tls-key=s', 'host=s',
           'secret=s@', 'require-token=s', 'clock-offset=i', 'record=s',
           'pid-file=s')
    or die "usage: see the top of $0\n";

die "--listen is required\n" unless $opt{listen};

my %secrets = map { split /:/, $_, 2 } @{ $opt{secret} };
my $offset = $opt{'clock-offset'} // 0;
my $state_file = ($opt{'pid-file'} // "/tmp/ci-emulator-$$") . '.state';
my $json = JSON::PP->new->canonical;

my @STATES = qw(Submitted Running Pause Success Failed Cancel);
my $QUEUE = 'p893bcda225bf4945a378da6662e81a89';

# --- the job table -------------------------------------------------------------

my (%jobs, @queue);

sub ctime {
    my ($epoch) = @_;
    return strftime('%Y-%m-%dT%H:%M:%S+0800', gmtime($epoch + 8 * 3600));
}

sub add_job {
    my (%j) = @_;
    $j{queue} //= 'p2911917386e148639319e13c285cc774';
    $j{tag} //= 'Transcode';
    $j{ctime} //= 1657166400;     # 2022-07-07T12:00:00+0800
    $j{input} //= 'input/test.mp4';
    $j{user_data} //= 'This is my data.';
    $jobs{ $j{api} }{ $j{id} } = \%j;
    return \%j;
}

for my $n (1 .. 20) {
    for my $state (@STATES) {
        add_job(api => 'jobs', id => "jobs$state$n", state => $state);
        add_job(api => 'pic_jobs', id => "pic$state$n", state => $state,
                tag => 'PicProcess');
        add_job(api => 'ai_jobs', id => "ai$state$n", state => $state,
                tag => 'Translation');
        add_job(api => 'inventorytriggerjob', id => "inv$state$n",
                state => $state, tag => 'Transcode');
    }
}

add_job(api => 'jobs', id => 'j8d121820f5e411ec926ef19d53ba9c6f',
        state => 'Success', queue => 'p2c7d4d3a1c6b4c0d9f5b9b0f4a2e6e1d');
add_job(api => 'jobs', id => 'j9c0a4726f6ac11ec96aaa9b64ab18d00',
        state => 'Running', queue => 'p2c7d4d3a1c6b4c0d9f5b9b0f4a2e6e1d');
add_job(api => 'jobs', id => 'jobsUserData1', state => 'Running',
        user_data => '<State>Success</State>');
add_job(api => 'pic_jobs', id => 'c93984788066911ed89ed352d4d9d2084',
        state => 'Submitted', tag => 'PosterProduction');
add_job(api => 'ai_jobs', id => 'a8d121820f5e411ec926ef19d53ba9c6f',
        state => 'Running', tag => 'Translation');
add_job(api => 'inventorytriggerjob', id => 'b3deffea2f84911ec9cb15254008618d9',
        state => 'Running', tag => 'Transcode');

for my $i (1 .. 25) {
    push @queue, add_job(api => 'list', id => sprintf('listJob%02d', $i),
        state => $STATES[$i % @STATES], queue => $QUEUE, tag => 'Translation',
        ctime => 1657166400 + $i * 3600,
        workflow => $i % 2 ? 'w1' : 'w2',
        inventory => $i % 3 == 0 ? 'inv1' : undef,
        input => $i == 5 ? 'input/a b+c.txt' : "input/file$i.txt");
}

for my $i (1 .. 5) {
    push @queue, add_job(api => 'list', id => "listTranscode$i",
        state => 'Success', queue => $QUEUE, tag => 'Transcode',
        ctime => 1657166400 + $i * 1800);
}

sub esc {
    my ($s) = @_;
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    $s =~ s/>/&gt;/g;
    return $s;
}

sub job_xml {
    my ($j) = @_;
    my $end = $j->{state} =~ /^(Success|Failed|Cancel)$/
              ? ctime($j->{ctime} + 60) : '-';
    my $code = $j->{state} eq 'Failed' ? 'InternalError' : 'Success';
    my $workflow = $j->{workflow}
        ? "\n        <WorkflowId>$j->{workflow}</WorkflowId>" : '';
    my $inventory = $j->{inventory}
        ? "\n        <InventoryTriggerJobId>$j->{inventory}</InventoryTriggerJobId>"
        : '';
    my $input = esc($j->{input});
    my $user_data = esc($j->{user_data});
    my $ctime = ctime($j->{ctime});

    return <<"XML";
    <JobsDetail>
        <Code>$code</Code>
        <Message></Message>
        <JobId>$j->{id}</JobId>
        <State>$j->{state}</State>
        <CreationTime>$ctime</CreationTime>
        <StartTime>$ctime</StartTime>
        <EndTime>$end</EndTime>
        <QueueId>$j->{queue}</QueueId>
        <Tag>$j->{tag}</Tag>$workflow$inventory
        <Input>
            <Region>ap-beijing</Region>
            <Bucket>examplebucket-1250000000</Bucket>
            <Object>$input</Object>
        </Input>
        <Operation>
            <TemplateId>t01e57db1c2d154d2fb57aa5de9313a897</TemplateId>
            <TemplateName>Transcode_H264_MP4</TemplateName>
            <Transcode>
                <Container>
                    <Format>mp4</Format>
                </Container>
                <Video>
                    <Codec>H.264</Codec>
                    <Profile>high</Profile>
                    <Bitrate>1000</Bitrate>
                    <Width>1280</Width>
                    <Fps>30</Fps>
                </Video>
                <Audio>
                    <Codec>aac</Codec>
                    <Samplerate>44100</Samplerate>
                    <Bitrate>128</Bitrate>
                    <Channels>4</Channels>
                </Audio>
            </Transcode>
            <Output>
                <Region>ap-beijing</Region>
                <Bucket>examplebucket-1250000000</Bucket>
                <Object>output/$j->{id}.mp4</Object>
            </Output>
            <MediaInfo>
                <Format>
                    <Bitrate>1055.640000</Bitrate>
                    <Duration>10.000000</Duration>
                    <FormatLongName>QuickTime / MOV</FormatLongName>
                    <FormatName>mov,mp4,m4a,3gp,3g2,mj2</FormatName>
                    <NumProgram>0</NumProgram>
                    <NumStream>2</NumStream>
                    <Size>1319550</Size>
                    <StartTime>0.000000</StartTime>
                </Format>
                <Stream>
                    <Video>
                        <Index>0</Index>
                        <CodecName>h264</CodecName>
                        <CodecLongName>H.264 / AVC / MPEG-4 AVC</CodecLongName>
                        <Width>1280</Width>
                        <Height>720</Height>
                        <Fps>30.000000</Fps>
                        <Bitrate>919.829000</Bitrate>
                    </Video>
                    <Audio>
                        <Index>1</Index>
                        <CodecName>aac</CodecName>
                        <Channel>2</Channel>
                        <SampleRate>44100</SampleRate>
                        <Bitrate>127.881000</Bitrate>
                    </Audio>
                </Stream>
            </MediaInfo>
            <UserData>$user_data</UserData>
            <JobLevel>0</JobLevel>
        </Operation>
    </JobsDetail>
XML
}

sub response_xml {
    my ($parts, $missing, $request_id) = @_;
    my $xml = "<Response>\n";
    $xml .= "    <RequestId>$request_id</RequestId>\n" if defined $request_id;
    $xml .= job_xml($_) for @$parts;
    $xml .= "    <NonExistJobIds>$_</NonExistJobIds>\n" for @$missing;
    return $xml . "</Response>\n";
}

sub error_xml {
    my ($code, $message, $request_id) = @_;
    return '<Error><Code>' . esc($code) . '</Code><Message>' . esc($message)
         . "</Message><RequestId>$request_id</RequestId></Error>";
}

# --- the list ------------------------------------------------------------------

sub parse_time {
    my ($s) = @_;
    my ($Y, $m, $d, $H, $M, $S, $sign, $oh, $om) =
        $s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d)(\d\d)$/
        or return;
    my $t = eval { timegm($S, $M, $H, $d, $m - 1, $Y) } // return;
    return $t - ($sign eq '+' ? 1 : -1) * ($oh * 3600 + $om * 60);
}

# -> (status, body)
sub list_jobs {
    my ($q, $request_id) = @_;
    my $bad = sub { (400, error_xml('InvalidArgument', $_[0], $request_id)) };

    return $bad->('queueId and tag are required')
        unless defined $q->{queueId} && defined $q->{tag};

    my $size = $q->{size} // 10;
    return $bad->('invalid size') unless $size =~ /^\d+$/ && $size >= 1
                                         && $size <= 100;
    my $order = $q->{orderByTime} // 'Desc';
    return $bad->('invalid orderByTime') unless $order =~ /^(Desc|Asc)$/;

    my %states;
    for my $s (split /,/, $q->{states} // 'All') {
        return $bad->('invalid states')
            unless $s eq 'All' || grep { $_ eq $s } @STATES;
        $states{$s} = 1;
    }

    my ($from, $to);
    if (defined $q->{startCreationTime}) {
        $from = parse_time($q->{startCreationTime})
            // return $bad->('invalid startCreationTime');
    }
    if (defined $q->{endCreationTime}) {
        $to = parse_time($q->{endCreationTime})
            // return $bad->('invalid endCreationTime');
    }

    my @found = grep {
        $_->{queue} eq $q->{queueId}
        && $_->{tag} eq $q->{tag}
        && ($states{All} || $states{ $_->{state} })
        && (!defined $q->{workflowId} || ($_->{workflow} // '') eq $q->{workflowId})
        && (!defined $q->{inventoryTriggerJobId}
            || ($_->{inventory} // '') eq $q->{inventoryTriggerJobId})
        && (!defined $q->{inputObject} || $_->{input} eq $q->{inputObject})
        && (!defined $from || $_->{ctime} >= $from)
        && (!defined $to || $_->{ctime} <= $to)
    } @queue;

    @found = sort { $order eq 'Asc' ? $a->{ctime} <=> $b->{ctime}
                                    : $b->{ctime} <=> $a->{ctime} } @found;

    my $start = 0;
    if (defined $q->{nextToken}) {
        ($start) = $q->{nextToken} =~ /^t(\d+)$/;
        $start //= @found;
    }

    my @page = grep { defined } @found[ $start .. $start + $size - 1 ];
    my $next = $start + $size < @found ? 't' . ($start + $size) : '';

    my $xml = "<Response>\n";
    $xml .= job_xml($_) for @page;
    $xml .= "    <NextToken>$next</NextToken>\n</Response>\n";
    return (200, $xml);
}

# --- answering -------------------------------------------------------------------

sub request_id {
    my @c = ('A' .. 'Z', 'a' .. 'z', 0 .. 9);
    return join '', map { $c[rand @c] } 1 .. 32;
}

sub record {
    my ($entry) = @_;
    return unless $opt{record};
    sysopen my $fh, $opt{record}, O_WRONLY | O_APPEND | O_CREAT or return;
    flock $fh, LOCK_EX;
    syswrite $fh, $json->encode($entry) . "\n";
    close $fh;
}

sub next_state {
    open my $fh, '+>>', $state_file or return 'Submitted';
    flock $fh, LOCK_EX;
    seek $fh, 0, 0;
    my $n = <$fh> // 0;
    chomp $n;
    seek $fh, 0, 0;
    truncate $fh, 0;
    print $fh $n + 1, "\n";
    close $fh;
    return ('Submitted', 'Running')[$n] // 'Success';
}

sub big_body {
    my ($bytes) = @_;
    my $job = job_xml({ id => 'faultbig', state => 'Success',
                        queue => $QUEUE, tag => 'Transcode',
                        ctime => 1657166400, input => 'in.mp4',
                        user_data => 'x' });
    my $n = int($bytes / length($job)) + 1;
    return "<Response>\n" . ($job x $n) . "</Response>\n";
}

# -> { status, body, fault }
sub answer {
    my ($method, $target, $h, $request_id) = @_;

    my $error = sub {
        my ($status, $code, $message) = @_;
        return { status => $status,
                 body => error_xml($code, $message, $request_id) };
    };

    return { %{ $error->(405, 'MethodNotAllowed', 'only GET') },
             bad => 'not GET' } if $method ne 'GET';

    return { %{ $error->(403, 'InvalidHost', 'unexpected Host') },
             bad => 'unexpected Host' }
        if defined $opt{host} && ($h->{host} // '') ne $opt{host};

    my ($code, $why) = verify($method, $target, $h, \%secrets, time + $offset);
    return { %{ $error->(403, $code, $why) }, bad => $why } if $code;

    if (defined $opt{'require-token'}
        && ($h->{'x-ci-security-token'} // '') ne $opt{'require-token'})
    {
        return $error->(403, 'InvalidAccessKeyId', 'token invalid');
    }

    my ($path, $query) = $target =~ /^([^?]*)(?:\?(.*))?$/s;
    my %q = map { my ($n, $v) = split /=/, $_, 2;
                  (CosSignature::uri_decode($n)
                   => CosSignature::uri_decode($v // '')) }
            grep { length } split /&/, $query // '';

    my ($fault) = grep { /^fault/ } ($path =~ m{/(\w+)$}, $q{queueId} // ());
    $fault //= '';

    return $error->(500, 'InternalError', 'internal error')
        if $fault eq 'fault500';
    return $error->(503, 'ServiceUnavailable', 'service unavailable')
        if $fault eq 'fault503';

    return { status => 200, body => "<Response><JobsDetail><State>Success"
                                    . "</JobsDetail></Response>\n",
             fault => $fault }
        if $fault eq 'faultmalformed';
    return { status => 200, body => big_body(10 * 1024 * 1024) }
        if $fault eq 'faulthuge';
    return { status => 200, body => big_body(3 * 1024 * 1024) }
        if $fault eq 'faultbig';

    if ($path eq '/jobs' && %q) {
        my ($status, $body) = list_jobs(\%q, $request_id);
        return { status => $status, body => $body, fault => $fault };
    }

    my ($api, $ids) = $path =~ m{^/(jobs|pic_jobs|ai_jobs|inventorytriggerjob)/([\w,]+)$}
        or return $error->(404, 'NoSuchApi', 'no such API');

    my @ids = split /,/, $ids;
    return $error->(400, 'InvalidArgument', 'at most 10 job ids') if @ids > 10;
    return $error->(400, 'InvalidArgument', 'one job id only')
        if $api ne 'jobs' && @ids > 1;

    my (@found, @missing);
    for my $id (@ids) {
        my $j = $jobs{$api}{$id};

        if (!$j && $id =~ /^genSuccess\d+$/ && $api eq 'jobs') {
            $j = { id => $id, state => 'Success', queue => $QUEUE,
                   tag => 'Transcode', ctime => 1657166400,
                   input => 'input/test.mp4', user_data => '' };
        }

        if (!$j && $id =~ /^fault(state|slow|slowbody|reset|resetbody|truncated|chunked|gzip|contenttype)\d*$/) {
            my $state = $id eq 'faultstate' ? next_state() : 'Success';
            $j = { id => $id, state => $state, queue => $QUEUE,
                   tag => 'Transcode', ctime => 1657166400,
                   input => 'input/test.mp4', user_data => '' };
        }

        if ($j) {
            push @found, $j;
        } else {
            push @missing, $id;
        }
    }

    return { status => 200, fault => $fault,
             body => response_xml(\@found, \@missing,
                                  $api eq 'inventorytriggerjob'
                                  ? $request_id : undef) };
}

sub http_date {
    return strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time + $offset));
}

sub reset_connection {
    my ($sock) = @_;
    setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $sock;
    exit 0;
}

my %REASON = (200 => 'OK', 400 => 'Bad Request', 403 => 'Forbidden',
              404 => 'Not Found', 405 => 'Method Not Allowed',
              500 => 'Internal Server Error', 503 => 'Service Unavailable');

sub serve_connection {
    my ($sock) = @_;
    my $buf = '';

    for (;;) {
        # read one request head
        while ($buf !~ /\r?\n\r?\n/) {
            my $n = sysread_timeout($sock, \$buf, 60);
            return unless $n;
            return if length $buf > 65536;
        }

        $buf =~ s/^(.*?)\r?\n\r?\n//s;
        my ($line, @lines) = split /\r?\n/, $1;

        my ($method, $target, $version) =
            ($line // '') =~ m{^(\S+) (\S+) (HTTP/1\.[01])$};

        if (!$method) {
            print $sock "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                      . "Connection: close\r\n\r\n";
            return;
        }

        my (%h, @pairs);
        for (@lines) {
            my ($n, $v) = /^([^:\s]+):\s*(.*?)\s*$/ or next;
            push @pairs, [ $n, $v ];
            $h{lc $n} = $v;
        }

        my $close = $version eq 'HTTP/1.0'
                    || ($h{connection} // '') =~ /close/i;

        my $request_id = request_id();
        my $a = answer($method, $target, \%h, $request_id);
        my $fault = $a->{fault} // '';
        my $body = $a->{body};
        my %extra;

        if ($fault eq 'faultgzip' && ($h{'accept-encoding'} // '') =~ /gzip/) {
            require IO::Compress::Gzip;
            my $gz;
            IO::Compress::Gzip::gzip(\$body, \$gz);
            $body = $gz;
            $extra{'Content-Encoding'} = 'gzip';
        }

        record({ method => $method, target => $target, version => $version,
                 headers => \@pairs, pid => $$, time => time,
                 signature => $a->{bad} ? "bad: $a->{bad}" : 'ok',
                 status => $a->{status}, response_sha1 => sha1_hex($body),
                 length($body) < 1024 * 1024 ? (response => $body) : () });

        reset_connection($sock) if $fault eq 'faultreset';

        if ($fault =~ /^faultslow(\d+)$/) {
            sleep $1;
        }

        my $head = "HTTP/1.1 $a->{status} " . ($REASON{ $a->{status} } // 'X')
                 . "\r\nServer: tencent-ci\r\nDate: " . http_date()
                 . "\r\nContent-Type: application/xml"
                 . "\r\nx-ci-request-id: $request_id"
                 . "\r\nSet-Cookie: ci_emulator=1"
                 . "\r\nX-Emulator-Private: 1"
                 . "\r\nConnection: " . ($close ? 'close' : 'keep-alive');
        $head =~ s{application/xml}{text/plain} if $fault eq 'faultcontenttype';
        $head .= "\r\n$_: $extra{$_}" for sort keys %extra;

        if ($fault eq 'faultchunked') {
            my $third = int(length($body) / 3);
            my @chunks = (substr($body, 0, $third), substr($body, $third, $third),
                          substr($body, 2 * $third));
            print $sock "$head\r\nTransfer-Encoding: chunked\r\n\r\n";
            printf $sock "%x;ext=1\r\n%s\r\n", length $chunks[0], $chunks[0];
            printf $sock "%x\r\n%s\r\n", length $_, $_ for @chunks[1, 2];
            print $sock "0\r\nX-Trailer: 1\r\n\r\n";

        } elsif ($fault =~ /^(?:faultslowbody(\d+)|faultresetbody|faulttruncated)$/) {
            my $pause = $1;
            my $half = substr($body, 0, int(length($body) / 2));
            print $sock "$head\r\nContent-Length: " . length($body)
                      . "\r\n\r\n$half";
            $sock->flush;
            reset_connection($sock) if $fault eq 'faultresetbody';
            return if $fault eq 'faulttruncated';
            sleep $pause;
            print $sock substr($body, length $half);

        } else {
            print $sock "$head\r\nContent-Length: " . length($body)
                      . "\r\n\r\n$body";
        }

        $sock->flush;
        return if $close;
    }
}

sub sysread_timeout {
    my ($sock, $buf, $timeout) = @_;
    my $rin = '';
    vec($rin, fileno($sock), 1) = 1;
    if (!($sock->can('pending') && $sock->pending)) {
        return 0 unless select(my $rout = $rin, undef, undef, $timeout);
    }
    return sysread($sock, $$buf, 65536, length $$buf);
}

# --- the server ------------------------------------------------------------------

my $listen = IO::Socket::INET->new(LocalAddr => $opt{listen}, Listen => 128,
                                   ReuseAddr => 1, Proto => 'tcp')
    or die "listen on $opt{listen}: $!\n";

my %children;
my $parent = $$;

$SIG{TERM} = $SIG{INT} = sub {
    kill 'TERM', keys %children;
    unlink $state_file;
    exit 0;
};
$SIG{CHLD} = sub {
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        delete $children{$pid};
    }
};
$SIG{PIPE} = 'IGNORE';

if ($opt{'pid-file'}) {
    open my $fh, '>', "$opt{'pid-file'}.tmp" or die "$opt{'pid-file'}: $!\n";
    print $fh "$$\n";
    close $fh;
    rename "$opt{'pid-file'}.tmp", $opt{'pid-file'};
}

for (;;) {
    my $client = $listen->accept or next;
    my $pid = fork;

    if (!defined $pid) {
        close $client;
        next;
    }

    if ($pid) {
        $children{$pid} = 1;
        close $client;
        next;
    }

    # the child
    $SIG{TERM} = $SIG{INT} = 'DEFAULT';
    close $listen;

    if ($opt{'tls-cert'}) {
        require IO::Socket::SSL;
        IO::Socket::SSL->start_SSL($client, SSL_server => 1,
                                   SSL_cert_file => $opt{'tls-cert'},
                                   SSL_key_file => $opt{'tls-key'})
            or exit 0;
    }

    binmode $client;
    $client->autoflush(0);
    eval { serve_connection($client) };
    close $client;
    exit 0;
}
